/**
 * Paste connects end to end over loopback: the app shows the authorize link,
 * the (fake) issuer redirects the browser to the loopback address, and the
 * user pastes that address back. The state is verified; a wrong paste leaves
 * the session waiting; a refusal at the issuer ends it.
 */
import { assert, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, type Redacted } from "effect"
import { brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

// What the browser ends on: the issuer's redirect, not followed (nothing listens on 1455).
const browserEndsOn = (authorizeUrl: string) =>
  Effect.promise(async () => {
    const response = await fetch(authorizeUrl, { redirect: "manual" })
    return response.headers.get("location") ?? ""
  })

const startPaste = (key: Redacted.Redacted<string>, userId: string) =>
  Effect.gen(function*() {
    const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: userId, method: "paste", accept_terms: true } })
    assert.strictEqual(created.status, 201, created.text)
    return created.body
  })

forEachEngine("paste connect", (engine: Engine) => {
  it.live("connects with the pasted address; the state and verifier never leave the broker", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { key } = yield* tenant()
      const session = yield* startPaste(key, "alice")
      assert.strictEqual(session.status, "pending")
      assert.strictEqual(session.paste.redirect_uri, "http://127.0.0.1:1455/auth/callback")
      const authorize = new URL(session.paste.authorize_url)
      assert.strictEqual(authorize.origin, oauth.url)
      assert.strictEqual(authorize.searchParams.get("code_challenge_method"), "S256")
      const pasted = yield* browserEndsOn(session.paste.authorize_url)
      assert.match(pasted, /^http:\/\/127\.0\.0\.1:1455\/auth\/callback\?code=/)
      const done = yield* call("POST", `/v1/connect-sessions/${session.id}/redirect`, { key, body: { url: pasted } })
      assert.strictEqual(done.status, 200, done.text)
      assert.strictEqual(done.body.status, "connected")
      const connection = yield* call("GET", "/v1/users/alice/connection", { key })
      assert.strictEqual(connection.body.status, "connected")
      // The exchange carried the verifier whose challenge was in the authorize link.
      const exchange = (yield* oauth.requests).find((r) => r.endpoint === "token")!
      assert.strictEqual(exchange.fields.find(([k]) => k === "grant_type")?.[1], "authorization_code")
      const again = yield* call("POST", `/v1/connect-sessions/${session.id}/redirect`, { key, body: { url: pasted } })
      assert.strictEqual(again.status, 409)
      assert.strictEqual(again.body.error.code, "session_not_pending")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("another session's address is refused (state mismatch) and the session keeps waiting", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const mine = yield* startPaste(key, "bob")
      const other = yield* startPaste(key, "bob")
      const othersAddress = yield* browserEndsOn(other.paste.authorize_url)
      const wrong = yield* call("POST", `/v1/connect-sessions/${mine.id}/redirect`, { key, body: { url: othersAddress } })
      assert.strictEqual(wrong.status, 400)
      assert.strictEqual(wrong.body.error.code, "invalid_request")
      assert.include(wrong.body.error.message, "another sign-in")
      for (const garbage of ["", "code-only", "http://127.0.0.1:1455/auth/callback?state=x", "x".repeat(9000)]) {
        const answer = yield* call("POST", `/v1/connect-sessions/${mine.id}/redirect`, { key, body: { url: garbage } })
        assert.strictEqual(answer.status, 400, `${garbage.slice(0, 20)}: ${answer.text.slice(0, 200)}`)
      }
      assert.strictEqual((yield* call("GET", `/v1/connect-sessions/${mine.id}`, { key })).body.status, "pending")
      const right = yield* call("POST", `/v1/connect-sessions/${mine.id}/redirect`, {
        key,
        body: { url: yield* browserEndsOn(mine.paste.authorize_url) }
      })
      assert.strictEqual(right.body.status, "connected", right.text)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("too many wrong pastes end the session", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const session = yield* startPaste(key, "carl")
      let last = yield* call("GET", `/v1/connect-sessions/${session.id}`, { key })
      for (let i = 0; i < 6; i++) {
        last = yield* call("POST", `/v1/connect-sessions/${session.id}/redirect`, {
          key,
          body: { url: "http://127.0.0.1:1455/auth/callback?code=abc&state=wrong-state" }
        })
      }
      assert.strictEqual(last.body.status, "failed", last.text)
      assert.strictEqual(last.body.reason, "too_many_attempts")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("declined at the issuer: the session ends denied", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const session = yield* startPaste(key, "dora")
      const pasted = yield* browserEndsOn(session.paste.authorize_url)
      assert.include(pasted, "error=access_denied")
      const done = yield* call("POST", `/v1/connect-sessions/${session.id}/redirect`, { key, body: { url: pasted } })
      assert.strictEqual(done.body.status, "denied", done.text)
      assert.strictEqual(done.body.reason, "access_denied")
    }).pipe(Effect.provide(brokerLayer(engine, { oauth: { authorize: { deny: { error: "access_denied", description: "the user cancelled" } } } }))))

  it.live("a workspace without Codex: the session fails with a reason the app can show", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const session = yield* startPaste(key, "eve")
      const pasted = yield* browserEndsOn(session.paste.authorize_url)
      const done = yield* call("POST", `/v1/connect-sessions/${session.id}/redirect`, { key, body: { url: pasted } })
      assert.strictEqual(done.body.status, "failed")
      assert.strictEqual(done.body.reason, "missing_codex_entitlement")
      assert.include(done.body.message, "administrator")
    }).pipe(
      Effect.provide(brokerLayer(engine, { oauth: { authorize: { deny: { error: "access_denied", description: "missing_codex_entitlement" } } } }))
    ))

  it.live("a device session has nothing to paste; a paste session without consent is not started", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const device = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "finn", method: "device", accept_terms: true } })
      const pasted = yield* call("POST", `/v1/connect-sessions/${device.body.id}/redirect`, { key, body: { url: "http://x/?code=a&state=b" } })
      assert.strictEqual(pasted.status, 400)
      const waiting = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "finn", method: "paste" } })
      assert.isNull(waiting.body.paste)
      const early = yield* call("POST", `/v1/connect-sessions/${waiting.body.id}/redirect`, { key, body: { url: "http://x/?code=a&state=b" } })
      assert.strictEqual(early.status, 409)
      assert.strictEqual(early.body.error.code, "consent_required")
    }).pipe(Effect.provide(brokerLayer(engine))))
})
