/**
 * The idle refresh sweep on two replicas (two `subauth broker serve`
 * processes) sharing one database, on PostgreSQL and on SQLite: 12 sign-ins
 * idle for 8 days, 4 refreshed an hour ago, 1 that must sign in again. The
 * issuer answers slowly (400 ms), so both replicas' sweeps run into each
 * other's refreshes. The fake issuer must see exactly one refresh per idle
 * sign-in (`refresh_reason: scheduled`), each refresh token once, and none for
 * the others; the idle connections' last refresh moves to now, the trail says
 * so, and nobody is logged out.
 */
import { assert, it } from "@effect/vitest"
import { SecureRandom, TokenSet } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Duration, Effect, Layer, Option, Redacted } from "effect"
import * as Broker from "../src/Broker.js"
import * as BrokerDatabase from "../src/BrokerDatabase.js"
import * as KeyWrap from "../src/KeyWrap.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import * as Tenants from "../src/Tenants.js"
import { SqlClient } from "@effect/sql"
import { envFor, fetchJson, serve } from "./processes.js"
import { type Engine, forEachEngine, freshLocation, masterKeys, tempDir } from "./support.js"

const DAY = 86_400_000

const refreshRequests = (oauth: FakeOAuthServer.FakeOAuthServer.Service) =>
  Effect.map(oauth.requests, (requests) =>
    requests
      .filter((r) => r.endpoint === "token" && r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token"))
      .map((r) => ({
        token: r.fields.find(([k]) => k === "refresh_token")?.[1] ?? "",
        reason: r.fields.find(([k]) => k === "refresh_reason")?.[1] ?? ""
      })))

const setup = (engine: Engine) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.make({})
    const location = yield* freshLocation(engine)
    const keys = masterKeys()
    const home = yield* tempDir
    const env = {
      ...envFor(home, oauth.url),
      SUBAUTH_BROKER_DATABASE_URL: location._tag === "Postgres" ? Redacted.value(location.url) : `sqlite:${location.filename}`,
      SUBAUTH_BROKER_MASTER_KEY: Redacted.value(MasterKey.format(keys)).trim(),
      SUBAUTH_LOG: "info"
    }
    // The tenant and its users are written by this process, through the library, on the same database.
    const library = Broker.layerAdmin.pipe(
      Layer.provideMerge(KeyWrap.layerLocal(keys)),
      Layer.provideMerge(BrokerDatabase.layer(location).pipe(Layer.tap((context) => Effect.provide(BrokerDatabase.migrate, context)))),
      Layer.provideMerge(SecureRandom.layer)
    )
    const context = yield* Layer.build(library)
    const { key, tenant } = yield* Effect.flatMap(Tenants.Tenants, (t) => t.create("idle")).pipe(Effect.provide(context))
    // Valid tokens (the fake issuer's live an hour), stored as obtained `ago` milliseconds ago.
    const seed = (userId: string, ago: number) =>
      Effect.gen(function*() {
        const minted = yield* oauth.issueTokens()
        const now = Date.now()
        const tokens = new TokenSet.TokenSet({ ...minted, obtainedAt: DateTime.unsafeMake(now - ago), expiresAt: DateTime.unsafeMake(now + 3_600_000) })
        yield* (yield* SqlTokenStore.make({ tenantId: tenant.id })).set(userId, tokens)
        return Redacted.value(Option.getOrThrow(tokens.refreshToken))
      }).pipe(Effect.provide(context))
    const markDead = (userId: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => SqlTokenStore.markReauthRequired(sql, tenant.id, userId, "RefreshTokenExpired")).pipe(
        Effect.provide(context)
      )
    return { oauth, env, key: Redacted.value(key.secret), seed, markDead }
  })

forEachEngine("idle refresh on two replica processes", (engine) => {
  it.live("each idle sign-in is refreshed exactly once, as `scheduled`; fresh and dead ones are not", () =>
    Effect.gen(function*() {
      const { oauth, env, key, seed, markDead } = yield* setup(engine)
      const idle = Array.from({ length: 12 }, (_, i) => `idle-${i}`)
      const fresh = Array.from({ length: 4 }, (_, i) => `fresh-${i}`)
      const idleTokens = yield* Effect.forEach(idle, (user) => seed(user, 8 * DAY))
      const freshTokens = yield* Effect.forEach(fresh, (user) => seed(user, 3_600_000))
      const deadToken = yield* seed("dead", 9 * DAY)
      yield* markDead("dead")
      yield* oauth.inject({ endpoint: "token", fault: FakeHttp.latency("400 millis"), calls: "all" })
      const started = Date.now()

      // Default limit (7 days), a sweep about every second on each replica.
      const replicas = yield* Effect.all([serve(env, "--idle-sweep-seconds", "1"), serve(env, "--idle-sweep-seconds", "1")], {
        concurrency: 2
      })
      for (let i = 0; i < 300 && (yield* refreshRequests(oauth)).length < idle.length; i++) yield* Effect.sleep("100 millis")
      // Several more sweeps on both: they must find nothing more to do.
      yield* Effect.sleep(Duration.seconds(4))

      const sent = yield* refreshRequests(oauth)
      assert.strictEqual(sent.length, idle.length, JSON.stringify(sent.map((s) => s.token.slice(0, 12))))
      assert.sameMembers(sent.map((s) => s.token), idleTokens)
      assert.deepStrictEqual([...new Set(sent.map((s) => s.reason))], ["scheduled"])
      for (const token of [...freshTokens, deadToken]) assert.notInclude(sent.map((s) => s.token), token)

      for (const user of idle) {
        const status = yield* fetchJson(`${replicas[0].url}/v1/users/${user}/connection`, "GET", key)
        assert.strictEqual(status.body.status, "connected", user)
        assert.isAtLeast(Date.parse(status.body.last_refresh_at), started - 1000, user)
        // The new tokens work: the next issue needs no refresh.
        const token = yield* fetchJson(`${replicas[1].url}/v1/users/${user}/token`, "POST", key, {})
        assert.strictEqual(token.status, 200, token.text)
        assert.isTrue(Option.isSome(yield* oauth.verifyAccessToken(token.body.access_token)))
      }
      for (const user of fresh) {
        const status = yield* fetchJson(`${replicas[1].url}/v1/users/${user}/connection`, "GET", key)
        assert.strictEqual(status.body.status, "connected")
        assert.isNull(status.body.last_refresh_at)
      }
      assert.strictEqual((yield* fetchJson(`${replicas[0].url}/v1/users/dead/connection`, "GET", key)).body.status, "reauth_required")
      assert.lengthOf(yield* refreshRequests(oauth), idle.length)

      const audit = yield* fetchJson(`${replicas[0].url}/v1/audit?limit=500`, "GET", key)
      const refreshed = audit.body.events.filter((e: { event: string }) => e.event === "token.refreshed")
      assert.lengthOf(refreshed, idle.length)
      for (const entry of refreshed) {
        assert.strictEqual(entry.detail.reason, "scheduled")
        assert.strictEqual(entry.actor, "broker")
      }
      // Both replicas swept while there was work (the lease, not luck, kept them apart).
      for (const replica of replicas) assert.match(replica.logs(), /idle refresh: \d+ idle/)
    }).pipe(Effect.scoped), 120_000)
})
