/**
 * Several broker replicas on one PostgreSQL, as processes, refreshing the
 * same users' single-use refresh tokens:
 *
 * - 4 replicas, 50 users whose tokens are all due, 400 concurrent token
 *   requests spread over the replicas: exactly 50 refreshes reach the issuer,
 *   no refresh token is sent twice, nobody is logged out.
 * - A replica SIGKILLed in the middle of a refresh (its request still on the
 *   way): another replica finishes the job once the lease runs out, with no
 *   reuse.
 * - A refresh slower than the other replicas' patience: they answer 503
 *   (try again) instead of sending the same refresh token.
 *
 * Runs on PostgreSQL only (replicas need a shared server database); skipped
 * where it is not reachable, failing in CI.
 */
import { assert, describe, it } from "@effect/vitest"
import { SecureRandom, TokenSet } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, Layer, Option, Redacted } from "effect"
import * as Broker from "../src/Broker.js"
import * as BrokerDatabase from "../src/BrokerDatabase.js"
import * as KeyWrap from "../src/KeyWrap.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import * as Tenants from "../src/Tenants.js"
import { envFor, fetchJson, type Replica, serve } from "./processes.js"
import { freshPostgres, masterKeys, postgresProblem, tempDir } from "./support.js"

const refreshTokensSent = (oauth: FakeOAuthServer.FakeOAuthServer.Service) =>
  Effect.map(oauth.requests, (requests) =>
    requests
      .filter((r) => r.endpoint === "token" && r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token"))
      .map((r) => r.fields.find(([k]) => k === "refresh_token")?.[1] ?? ""))

const setup = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({})
  const url = yield* freshPostgres
  const keys = masterKeys()
  const home = yield* tempDir
  const env = {
    ...envFor(home, oauth.url),
    SUBAUTH_BROKER_DATABASE_URL: url,
    SUBAUTH_BROKER_MASTER_KEY: Redacted.value(MasterKey.format(keys)).trim(),
    SUBAUTH_LOG: "warning"
  }
  // The tenant and its users are written by this process, through the library, on the same database.
  const library = Broker.layerAdmin.pipe(
    Layer.provideMerge(KeyWrap.layerLocal(keys)),
    Layer.provideMerge(BrokerDatabase.layer({ _tag: "Postgres", url: Redacted.make(url) }).pipe(
      Layer.tap((context) => Effect.provide(BrokerDatabase.migrate, context))
    )),
    Layer.provideMerge(SecureRandom.layer)
  )
  const context = yield* Layer.build(library)
  const { tenant, key } = yield* Effect.flatMap(Tenants.Tenants, (t) => t.create("replicas")).pipe(Effect.provide(context))
  // Users whose stored tokens are due now (the tokens themselves are valid at the fake issuer for an hour).
  const seedDue = (userId: string) =>
    Effect.gen(function*() {
      const minted = yield* oauth.issueTokens()
      const due = new TokenSet.TokenSet({ ...minted, expiresAt: DateTime.unsafeMake(Date.now() + 1000), obtainedAt: DateTime.unsafeMake(Date.now() - 3_600_000) })
      yield* (yield* SqlTokenStore.make({ tenantId: tenant.id })).set(userId, due)
      return due
    }).pipe(Effect.provide(context))
  return { oauth, env, key: Redacted.value(key.secret), seedDue }
})

const issue = (replica: Replica, key: string, userId: string) => fetchJson(`${replica.url}/v1/users/${userId}/token`, "POST", key, {})

if (postgresProblem === undefined || process.env.CI === "true") {
  describe("broker replicas on one PostgreSQL", () => {
    if (postgresProblem !== undefined) {
      it("runs against PostgreSQL in CI", () => assert.fail(`${postgresProblem}; start PostgreSQL on 127.0.0.1:5432`))
      return
    }

    it.live("4 replicas, 50 due users, 400 concurrent requests: exactly 50 refreshes, no token sent twice", () =>
      Effect.gen(function*() {
        const { oauth, env, key, seedDue } = yield* setup
        const users = Array.from({ length: 50 }, (_, i) => `user-${i}`)
        const seeded = yield* Effect.forEach(users, seedDue)
        const replicas = yield* Effect.all(Array.from({ length: 4 }, () => serve(env, "--lease-seconds", "5", "--lock-wait-seconds", "60")), {
          concurrency: 4
        })
        yield* oauth.clearRequests
        const answers = yield* Effect.all(
          Array.from({ length: 400 }, (_, n) => issue(replicas[n % 4]!, key, users[Math.floor(n / 8)]!)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual([...new Set(answers.map((a) => a.status))], [200], answers.find((a) => a.status !== 200)?.text)
        const sent = yield* refreshTokensSent(oauth)
        assert.strictEqual(sent.length, 50)
        assert.strictEqual(new Set(sent).size, 50)
        assert.sameMembers(sent, seeded.map((t) => Redacted.value(Option.getOrThrow(t.refreshToken))))
        // Every user got one new token, the same from every replica.
        for (const [i, user] of users.entries()) {
          const issued = new Set(answers.filter((_, n) => Math.floor(n / 8) === i).map((a) => a.body.access_token as string))
          assert.strictEqual(issued.size, 1, user)
          assert.isFalse(issued.has(Redacted.value(seeded[i]!.accessToken)))
        }
      }).pipe(Effect.scoped), 120_000)

    it.live("a replica SIGKILLed mid-refresh: another finishes after the lease runs out; no reuse, nobody logged out", () =>
      Effect.gen(function*() {
        const { oauth, env, key, seedDue } = yield* setup
        const due = yield* seedDue("victim")
        const [a, b] = yield* Effect.all([serve(env, "--lease-seconds", "2"), serve(env, "--lease-seconds", "2")], { concurrency: 2 })
        // The refresh takes 3 s to reach the issuer's logic: A is killed while it is on the way.
        yield* oauth.inject({ endpoint: "token", fault: FakeHttp.latency("3 seconds"), calls: [1] })
        yield* Effect.fork(issue(a, key, "victim"))
        while ((yield* refreshTokensSent(oauth)).length === 0) yield* Effect.sleep("20 millis")
        yield* a.kill("SIGKILL")
        const answer = yield* issue(b, key, "victim")
        assert.strictEqual(answer.status, 200, answer.text)
        const sent = yield* refreshTokensSent(oauth)
        // A's request never reached the issuer's logic (its client died on the way); B's did, once.
        assert.deepStrictEqual(sent, [Redacted.value(Option.getOrThrow(due.refreshToken)), Redacted.value(Option.getOrThrow(due.refreshToken))])
        assert.isTrue(Option.isSome(yield* oauth.verifyAccessToken(answer.body.access_token)))
        const again = yield* issue(b, key, "victim")
        assert.strictEqual(again.status, 200)
        const status = yield* fetchJson(`${b.url}/v1/users/victim/connection`, "GET", key)
        assert.strictEqual(status.body.status, "connected")
      }).pipe(Effect.scoped), 120_000)

    it.live("a refresh slower than the others' patience: they answer 503 and never send the same refresh token", () =>
      Effect.gen(function*() {
        const { oauth, env, key, seedDue } = yield* setup
        yield* seedDue("slow")
        const replicas = yield* Effect.all(Array.from({ length: 3 }, () => serve(env, "--lease-seconds", "1", "--lock-wait-seconds", "1")), {
          concurrency: 3
        })
        // 4 s at the issuer: four lease lengths, four times the others' patience.
        yield* oauth.inject({ endpoint: "token", fault: FakeHttp.latency("4 seconds"), calls: [1] })
        const slow = yield* Effect.fork(issue(replicas[0]!, key, "slow"))
        while ((yield* refreshTokensSent(oauth)).length === 0) yield* Effect.sleep("20 millis")
        const impatient = yield* Effect.all(
          Array.from({ length: 6 }, (_, n) => issue(replicas[1 + (n % 2)]!, key, "slow")),
          { concurrency: "unbounded" }
        )
        for (const answer of impatient) {
          assert.strictEqual(answer.status, 503, answer.text)
          assert.strictEqual(answer.body.error.code, "refresh_busy")
        }
        const first = yield* slow.await.pipe(Effect.flatten)
        assert.strictEqual(first.status, 200, first.text)
        assert.lengthOf(yield* refreshTokensSent(oauth), 1)
        const later = yield* issue(replicas[2]!, key, "slow")
        assert.strictEqual(later.body.access_token, first.body.access_token)
      }).pipe(Effect.scoped), 120_000)
  })
} else {
  describe.skip(`broker replicas: skipped, ${postgresProblem}; start PostgreSQL on 127.0.0.1:5432 to run it`, () => {
    it("replica tests", () => {})
  })
}
