/**
 * Device-code connects end to end over loopback: the app creates a session,
 * the user enters the code at the (fake) issuer, the broker polls and stores
 * the sign-in; then tokens, status, sign-out and the audit trail. Plus the
 * ways a device sign-in ends without a connection: declined, expired, device
 * codes disabled, and no consent.
 */
import { assert, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Option } from "effect"
import { brokerLayer, call, connectByDevice, tenant, waitForSession } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

forEachEngine("device connect", (engine: Engine) => {
  it.live("connects a user by device code; then token, status, sign-out and audit", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const created = yield* call("POST", "/v1/connect-sessions", {
        key,
        body: { user_id: "alice", method: "device", accept_terms: true }
      })
      assert.strictEqual(created.status, 201, created.text)
      assert.strictEqual(created.body.status, "pending")
      assert.strictEqual(created.body.consent, "given")
      assert.match(created.body.device.user_code, /^FAKE-/)
      assert.strictEqual(created.body.device.verification_uri, `${oauth.url}/codex/device`)
      assert.isNull(created.body.paste)
      // The device secret never leaves the broker.
      assert.notInclude(created.text, "deviceauth_FAKE")

      const done = yield* waitForSession(key, created.body.id)
      assert.strictEqual(done.body.status, "connected", done.text)

      const connection = yield* call("GET", "/v1/users/alice/connection", { key })
      assert.strictEqual(connection.status, 200)
      assert.strictEqual(connection.body.status, "connected")
      assert.strictEqual(connection.body.account_id, FakeOAuthServer.defaultAccount.accountId)
      assert.strictEqual(connection.body.email, FakeOAuthServer.defaultAccount.email)
      assert.strictEqual(connection.body.plan, "plus")
      assert.isTrue(connection.body.claims_verified)
      assert.strictEqual(connection.body.consent.attested_by.slice(0, 8), "app:key_")

      const token = yield* call("POST", "/v1/users/alice/token", { key, body: { label: "agent run 7" } })
      assert.strictEqual(token.status, 200, token.text)
      assert.strictEqual(token.body.token_type, "Bearer")
      assert.isTrue(Option.isSome(yield* oauth.verifyAccessToken(token.body.access_token)))
      assert.strictEqual(token.body.account_id, FakeOAuthServer.defaultAccount.accountId)
      assert.strictEqual(token.body.llm.headers["chatgpt-account-id"], FakeOAuthServer.defaultAccount.accountId)
      assert.strictEqual(token.body.llm.headers.originator, "codex_cli_rs")
      assert.notProperty(token.body, "refresh_token")
      assert.notProperty(token.body, "id_token")

      const signOut = yield* call("DELETE", "/v1/users/alice/connection", { key })
      assert.deepStrictEqual(signOut.body, { user_id: "alice", signed_in: true, revoke: "revoked" })
      assert.isTrue(Option.isNone(yield* oauth.verifyAccessToken(token.body.access_token)))
      assert.strictEqual((yield* call("GET", "/v1/users/alice/connection", { key })).body.status, "none")
      const after = yield* call("POST", "/v1/users/alice/token", { key, body: {} })
      assert.strictEqual(after.status, 404, after.text)
      assert.strictEqual(after.body.error.code, "not_connected")

      const audit = yield* call("GET", "/v1/audit?user_id=alice", { key })
      assert.strictEqual(audit.status, 200)
      const events = audit.body.events.map((e: { event: string }) => e.event)
      for (const expected of ["consent.recorded", "sign_in.started", "connection.connected", "token.issued", "connection.signed_out", "connection.revoked"]) {
        assert.include(events, expected)
      }
      const issued = audit.body.events.find((e: { event: string }) => e.event === "token.issued")
      assert.strictEqual(issued.detail.label, "agent run 7")
      assert.match(issued.actor, /^key:key_/)
      assert.match(issued.request_id, /^req_/)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a declined device code ends the session denied", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "bob", method: "device", accept_terms: true } })
      assert.isTrue(yield* oauth.denyDevice(created.body.device.user_code))
      const done = yield* waitForSession(key, created.body.id)
      assert.strictEqual(done.body.status, "denied")
      assert.strictEqual(done.body.reason, "access_denied")
      assert.strictEqual((yield* call("GET", "/v1/users/bob/connection", { key })).body.status, "none")
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { devicePendingPolls: "manual" } }))))

  it.live("a device code that expires ends the session expired", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "carol", method: "device", accept_terms: true } })
      const done = yield* waitForSession(key, created.body.id)
      assert.strictEqual(done.body.status, "expired")
      assert.strictEqual(done.body.reason, "code_expired")
      assert.include(done.body.message, "start a new session")
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { devicePendingPolls: "manual", deviceCodeLifetime: "2 seconds" } }))))

  it.live("device codes disabled: the session fails at once, saying how to turn them on", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "dan", method: "device", accept_terms: true } })
      assert.strictEqual(created.status, 201)
      assert.strictEqual(created.body.status, "failed")
      assert.strictEqual(created.body.reason, "device_login_disabled")
      assert.include(created.body.message, "paste")
      assert.strictEqual((yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })).body.status, "failed")
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { deviceEnabled: false } }))))

  it.live("without consent the session waits, asks the issuer nothing, and starts when consent is recorded", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "erin", method: "device" } })
      assert.strictEqual(created.body.status, "pending")
      assert.strictEqual(created.body.consent, "required")
      assert.isNull(created.body.device)
      yield* Effect.sleep("300 millis")
      assert.lengthOf((yield* oauth.requests).filter((r) => r.endpoint.startsWith("device")), 0)
      const consented = yield* call("POST", `/v1/connect-sessions/${created.body.id}/consent`, { key })
      assert.strictEqual(consented.status, 200, consented.text)
      assert.strictEqual(consented.body.consent, "given")
      assert.match(consented.body.device.user_code, /^FAKE-/)
      assert.strictEqual((yield* waitForSession(key, created.body.id)).body.status, "connected")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("connecting again replaces the sign-in and revokes the one it replaced", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      yield* connectByDevice(key, "frank")
      const first = yield* call("POST", "/v1/users/frank/token", { key, body: {} })
      yield* connectByDevice(key, "frank")
      const second = yield* call("POST", "/v1/users/frank/token", { key, body: {} })
      assert.notStrictEqual(first.body.access_token, second.body.access_token)
      assert.isTrue(Option.isNone(yield* oauth.verifyAccessToken(first.body.access_token)))
      assert.isTrue(Option.isSome(yield* oauth.verifyAccessToken(second.body.access_token)))
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("many pending sessions cost their polls and no more: each is polled about once per interval", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const sessions = 30
      for (let i = 0; i < sessions; i++) {
        const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: `waiting-${i}`, method: "device", accept_terms: true } })
        assert.strictEqual(created.status, 201, created.text)
      }
      yield* oauth.clearRequests
      yield* Effect.sleep("3 seconds")
      const polls = (yield* oauth.requests).filter((r) => r.endpoint === "deviceToken")
      // Interval 1 s over 3 s: each session about 3 times; never more than once per interval (plus one at the edge).
      assert.isAtMost(polls.length, sessions * 4)
      assert.isAtLeast(polls.length, sessions * 2)
      const perSession = new Map<string, number>()
      for (const poll of polls) {
        const id = poll.fields.find(([k]) => k === "device_auth_id")?.[1] ?? ""
        perSession.set(id, (perSession.get(id) ?? 0) + 1)
      }
      assert.strictEqual(perSession.size, sessions)
      assert.isAtMost(Math.max(...perSession.values()), 4)
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { devicePendingPolls: "manual" }, broker: { sessions: { maxPendingPerUser: 3, maxPendingPerTenant: 100 } } }))))

  it.live("pending sessions per tenant are limited (429), and a finished one frees its place", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const first = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "u1", method: "device", accept_terms: true } })
      yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "u2", method: "paste" } })
      const third = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "u3", method: "paste" } })
      assert.strictEqual(third.status, 429)
      assert.strictEqual(third.body.error.code, "too_many_sessions")
      assert.include(third.body.error.message, "tenant")
      assert.isTrue(yield* oauth.approveDevice(first.body.device.user_code))
      assert.strictEqual((yield* waitForSession(key, first.body.id)).body.status, "connected")
      assert.strictEqual((yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "u3", method: "paste" } })).status, 201)
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { devicePendingPolls: "manual" }, broker: { sessions: { maxPendingPerTenant: 2, tick: "100 millis" } } }))))
})
