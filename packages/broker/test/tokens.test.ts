/**
 * Issuing tokens: fresh tokens come from the database without a refresh; due
 * ones are refreshed once however many ask; `min_ttl_seconds` is honoured; a
 * rejected token is replaced; a dead sign-in is found once, recorded, and
 * answered `reauth_required` from then on without sending its refresh token
 * again. Only access tokens ever leave.
 */
import { assert, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { DateTime, Duration, Effect, Option, Redacted } from "effect"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

/** A user signed in with tokens the fake issuer minted, written straight to the broker's store. */
const seed = (tenantId: string, userId: string, options: { readonly left?: Duration.DurationInput; readonly due?: boolean } = {}) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.FakeOAuthServer
    const minted = yield* oauth.issueTokens({ accessTokenLifetime: "1 hour" })
    // An hour-long token with only `left` of it left by the stored times ("due": a second); its JWT still verifies.
    const left = options.due === true ? 1000 : options.left !== undefined ? Duration.toMillis(Duration.decode(options.left)) : undefined
    const tokens = left !== undefined
      ? new TokenSet.TokenSet({ ...minted, expiresAt: DateTime.unsafeMake(Date.now() + left), obtainedAt: DateTime.unsafeMake(Date.now() + left - 3_600_000) })
      : minted
    yield* (yield* SqlTokenStore.make({ tenantId })).set(userId, tokens)
    return tokens
  })

const refreshes = Effect.map(
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (oauth) => oauth.requests),
  (requests) => requests.filter((r) => r.endpoint === "token" && r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token"))
)

forEachEngine("tokens", (engine: Engine) => {
  it.live("a fresh token comes from the store, without a refresh; only the access token leaves", () =>
    Effect.gen(function*() {
      const { id, key } = yield* tenant()
      const tokens = yield* seed(id, "alice")
      const answer = yield* call("POST", "/v1/users/alice/token", { key, body: {} })
      assert.strictEqual(answer.status, 200, answer.text)
      assert.strictEqual(answer.body.access_token, Redacted.value(tokens.accessToken))
      assert.notInclude(answer.text, Redacted.value(Option.getOrThrow(tokens.refreshToken)))
      assert.notInclude(answer.text, Redacted.value(Option.getOrThrow(tokens.idToken)))
      assert.isAtLeast(answer.body.expires_in, 3500)
      assert.lengthOf(yield* refreshes, 0)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a due token is refreshed once for 100 concurrent callers; the rotation is stored and audited", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { id, key } = yield* tenant()
      const old = yield* seed(id, "bob", { due: true })
      const answers = yield* Effect.all(
        Array.from({ length: 100 }, (_, i) => call("POST", "/v1/users/bob/token", { key, body: { label: `caller ${i}` } })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual([...new Set(answers.map((a) => a.status))], [200])
      const issued = new Set(answers.map((a) => a.body.access_token as string))
      assert.strictEqual(issued.size, 1)
      assert.isFalse(issued.has(Redacted.value(old.accessToken)))
      assert.isTrue(Option.isSome(yield* oauth.verifyAccessToken([...issued][0]!)))
      assert.lengthOf(yield* refreshes, 1)
      const stored = Option.getOrThrow(yield* (yield* SqlTokenStore.make({ tenantId: id })).get("bob"))
      assert.isFalse(TokenSet.sameRefreshToken(stored, old))
      const connection = yield* call("GET", "/v1/users/bob/connection", { key })
      assert.isNotNull(connection.body.last_refresh_at)
      assert.isNotNull(connection.body.last_used_at)
      const audit = yield* call("GET", "/v1/audit?user_id=bob&limit=500", { key })
      const events = audit.body.events.map((e: { event: string }) => e.event)
      assert.strictEqual(events.filter((e: string) => e === "token.refreshed").length, 1)
      assert.strictEqual(events.filter((e: string) => e === "token.issued").length, 100)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("min_ttl_seconds: a token with less time left is refreshed; one with enough is not", () =>
    Effect.gen(function*() {
      const { id, key } = yield* tenant()
      const tokens = yield* seed(id, "carol", { left: "20 minutes" })
      const enough = yield* call("POST", "/v1/users/carol/token", { key, body: { min_ttl_seconds: 600 } })
      assert.strictEqual(enough.body.access_token, Redacted.value(tokens.accessToken))
      assert.lengthOf(yield* refreshes, 0)
      const more = yield* call("POST", "/v1/users/carol/token", { key, body: { min_ttl_seconds: 1800 } })
      assert.notStrictEqual(more.body.access_token, Redacted.value(tokens.accessToken))
      assert.isAtLeast(more.body.expires_in, 1800)
      assert.lengthOf(yield* refreshes, 1)
      for (const bad of [-1, 1.5, 86_401]) {
        const refused = yield* call("POST", "/v1/users/carol/token", { key, body: { min_ttl_seconds: bad } })
        assert.strictEqual(refused.status, 400, `${bad}: ${refused.text}`)
      }
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a token the backend rejected is replaced (rejected_access_token)", () =>
    Effect.gen(function*() {
      const { id, key } = yield* tenant()
      const tokens = yield* seed(id, "dave")
      const replaced = yield* call("POST", "/v1/users/dave/token", {
        key,
        body: { rejected_access_token: Redacted.value(tokens.accessToken) }
      })
      assert.strictEqual(replaced.status, 200, replaced.text)
      assert.notStrictEqual(replaced.body.access_token, Redacted.value(tokens.accessToken))
      assert.lengthOf(yield* refreshes, 1)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a refresh token used elsewhere: reauth_required once found, recorded, and never sent again", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { id, key } = yield* tenant()
      const tokens = yield* seed(id, "erin", { due: true })
      // Someone else spends the refresh token (a copy of the sign-in elsewhere).
      const spent = yield* Effect.promise(() =>
        fetch(`${oauth.url}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: oauth.clientId, grant_type: "refresh_token", refresh_token: Redacted.value(Option.getOrThrow(tokens.refreshToken)) })
        }).then((r) => r.status)
      )
      assert.strictEqual(spent, 200)
      const first = yield* call("POST", "/v1/users/erin/token", { key, body: {} })
      assert.strictEqual(first.status, 409, first.text)
      assert.strictEqual(first.body.error.code, "reauth_required")
      assert.strictEqual(first.body.error.reason, "RefreshTokenReused")
      assert.include(first.body.error.message, "connect again")
      const sent = (yield* refreshes).length
      const again = yield* Effect.all(Array.from({ length: 5 }, () => call("POST", "/v1/users/erin/token", { key, body: {} })))
      assert.deepStrictEqual(again.map((a) => a.body.error.reason), Array(5).fill("RefreshTokenReused"))
      assert.lengthOf(yield* refreshes, sent)
      const connection = yield* call("GET", "/v1/users/erin/connection", { key })
      assert.strictEqual(connection.body.status, "reauth_required")
      assert.strictEqual(connection.body.reauth_reason, "RefreshTokenReused")
      assert.isNull(connection.body.access_token_expires_at)
      const audit = yield* call("GET", "/v1/audit?user_id=erin", { key })
      assert.include(audit.body.events.map((e: { event: string }) => e.event), "token.reuse_detected")
      // Signing out a dead sign-in removes it.
      const out = yield* call("DELETE", "/v1/users/erin/connection?revoke=false", { key })
      assert.deepStrictEqual(out.body, { user_id: "erin", signed_in: true, revoke: "skipped" })
      assert.strictEqual((yield* call("GET", "/v1/users/erin/connection", { key })).body.status, "none")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("an issuer that is down: 503 with retry-after, and the sign-in is kept", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { id, key } = yield* tenant()
      yield* seed(id, "finn", { due: true })
      yield* oauth.inject({ endpoint: "token", fault: { _tag: "Status", status: 503, body: { error: "down" }, headers: {} } })
      const answer = yield* call("POST", "/v1/users/finn/token", { key, body: {} })
      assert.strictEqual(answer.status, 503, answer.text)
      assert.strictEqual(answer.body.error.code, "issuer_unavailable")
      yield* oauth.clearFaults
      const later = yield* call("POST", "/v1/users/finn/token", { key, body: {} })
      assert.strictEqual(later.status, 200, later.text)
    }).pipe(Effect.provide(brokerLayer(engine, { broker: { retry: { attempts: 2, baseDelay: Duration.millis(10) } } }))))

  it.live("erasing a user revokes the sign-in and deletes everything of theirs but the erasure's record", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { id, key } = yield* tenant()
      const tokens = yield* seed(id, "gina")
      yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "gina", method: "paste", accept_terms: true } })
      yield* call("POST", "/v1/users/gina/token", { key, body: {} })
      const erased = yield* call("DELETE", "/v1/users/gina", { key })
      assert.deepStrictEqual(erased.body, { user_id: "gina", erased: true, revoke: "revoked" })
      assert.isTrue(Option.isNone(yield* oauth.verifyAccessToken(Redacted.value(tokens.accessToken))))
      for (const table of ["connections", "consents", "connect_sessions", "leases"]) {
        const rows = yield* sql`SELECT user_id FROM ${sql(table)} WHERE user_id = 'gina'`
        assert.lengthOf(rows, 0, table)
      }
      const audit = yield* call("GET", "/v1/audit?user_id=gina", { key })
      assert.deepStrictEqual(audit.body.events.map((e: { event: string }) => e.event), ["user.erased"])
    }).pipe(Effect.provide(brokerLayer(engine))))
})
