/**
 * One broker's idle refresh sweep, driven by hand: idle sign-ins are
 * refreshed once (`scheduled`, audited), fresh, dead and signed-out ones are
 * left alone, a second sweep finds nothing, and a sign-in whose refresh token
 * was spent elsewhere is marked `reauth_required` after one request. (Two
 * replicas: `idle-refresh-replicas.test.ts`.)
 */
import { assert, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, Option, Redacted } from "effect"
import * as IdleRefresh from "../src/IdleRefresh.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { brokerLayer, call, tenant } from "./harness.js"
import { eventually, receiver } from "./receiver.js"
import { type Engine, forEachEngine } from "./support.js"

const DAY = 86_400_000

const seed = (tenantId: string, userId: string, ago: number) =>
  Effect.gen(function*() {
    const minted = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
    const now = Date.now()
    const tokens = new TokenSet.TokenSet({ ...minted, obtainedAt: DateTime.unsafeMake(now - ago), expiresAt: DateTime.unsafeMake(now + 3_600_000) })
    yield* (yield* SqlTokenStore.make({ tenantId })).set(userId, tokens)
    return tokens
  })

const refreshes = Effect.map(
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (oauth) => oauth.requests),
  (requests) =>
    requests
      .filter((r) => r.endpoint === "token" && r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token"))
      .map((r) => Object.fromEntries(r.fields))
)

const refreshTokenOf = (tokens: TokenSet.TokenSet) => Redacted.value(Option.getOrThrow(tokens.refreshToken))

forEachEngine("idle refresh sweep", (engine: Engine) => {
  it.live("refreshes every tenant's idle sign-ins once, as scheduled and audited; leaves fresh and dead ones alone", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const sweeper = yield* IdleRefresh.IdleRefresh
      const app = yield* tenant("a")
      const other = yield* tenant("b")
      const idle = yield* seed(app.id, "idle", 8 * DAY)
      const otherIdle = yield* seed(other.id, "idle", 10 * DAY)
      const fresh = yield* seed(app.id, "fresh", 6 * DAY)
      const dead = yield* seed(app.id, "dead", 9 * DAY)
      yield* SqlTokenStore.markReauthRequired(sql, app.id, "dead", "RefreshTokenExpired")

      const first = yield* sweeper.sweep
      assert.deepStrictEqual(first, { idle: 2, renewed: 2, skipped: 0, failed: 0 })
      const sent = yield* refreshes
      assert.sameMembers(sent.map((f) => f.refresh_token), [refreshTokenOf(idle), refreshTokenOf(otherIdle)])
      assert.deepStrictEqual([...new Set(sent.map((f) => f.refresh_reason))], ["scheduled"])
      for (const tokens of [fresh, dead]) assert.notInclude(sent.map((f) => f.refresh_token), refreshTokenOf(tokens))

      // The stored tokens moved on; the connection says when.
      const stored = Option.getOrThrow(yield* (yield* SqlTokenStore.make({ tenantId: app.id })).get("idle"))
      assert.isFalse(TokenSet.sameRefreshToken(stored, idle))
      assert.isAtLeast(DateTime.toEpochMillis(stored.obtainedAt), Date.now() - 60_000)
      const connection = yield* call("GET", "/v1/users/idle/connection", { key: app.key })
      assert.isAtLeast(Date.parse(connection.body.last_refresh_at), Date.now() - 60_000)
      assert.isNull((yield* call("GET", "/v1/users/fresh/connection", { key: app.key })).body.last_refresh_at)
      assert.strictEqual((yield* call("GET", "/v1/users/dead/connection", { key: app.key })).body.status, "reauth_required")

      const audit = yield* call("GET", "/v1/audit?user_id=idle", { key: app.key })
      const refreshed = audit.body.events.filter((e: { event: string }) => e.event === "token.refreshed")
      assert.lengthOf(refreshed, 1)
      assert.strictEqual(refreshed[0].detail.reason, "scheduled")
      assert.strictEqual(refreshed[0].actor, "broker")

      // Nothing left to do.
      assert.deepStrictEqual(yield* sweeper.sweep, { idle: 0, renewed: 0, skipped: 0, failed: 0 })
      assert.lengthOf(yield* refreshes, 2)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a sign-in whose refresh token was spent elsewhere: one request, then reauth_required (and its webhook), never sent again", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const sweeper = yield* IdleRefresh.IdleRefresh
      const app = yield* tenant()
      const hooks = yield* receiver()
      assert.strictEqual((yield* call("PUT", "/v1/webhook", { key: app.key, body: { url: hooks.url } })).status, 200)
      const spent = yield* seed(app.id, "copied", 8 * DAY)
      // A copy of the sign-in refreshed somewhere else first.
      yield* Effect.promise(() =>
        fetch(`${oauth.url}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: oauth.clientId, grant_type: "refresh_token", refresh_token: refreshTokenOf(spent) })
        }).then((r) => r.text())
      )
      yield* oauth.clearRequests
      assert.deepStrictEqual(yield* sweeper.sweep, { idle: 1, renewed: 0, skipped: 0, failed: 1 })
      assert.lengthOf(yield* refreshes, 1)
      const connection = yield* call("GET", "/v1/users/copied/connection", { key: app.key })
      assert.strictEqual(connection.body.status, "reauth_required")
      assert.strictEqual(connection.body.reauth_reason, "RefreshTokenReused")
      const audit = yield* call("GET", "/v1/audit?user_id=copied", { key: app.key })
      assert.include(audit.body.events.map((e: { event: string }) => e.event), "token.reuse_detected")
      assert.deepStrictEqual(yield* sweeper.sweep, { idle: 0, renewed: 0, skipped: 0, failed: 0 })
      assert.lengthOf(yield* refreshes, 1)
      const [event] = yield* eventually(() => hooks.events().length > 0 && hooks.events())
      assert.strictEqual(event.type, "connection.reauth_required")
      assert.deepStrictEqual(event.data, { user_id: "copied", reason: "RefreshTokenReused" })
      yield* Effect.sleep("300 millis")
      assert.lengthOf(hooks.received, 1)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: { webhooks: { tick: "100 millis" } } }))))
})
