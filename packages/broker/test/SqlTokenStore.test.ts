/**
 * The SQL token store: the same contract as every other store, on SQLite and
 * PostgreSQL, plus what only a shared database needs: tenants that cannot see
 * each other, ciphertexts bound to their row and column, a lease that holds
 * across holders and is renewed while held, and writes that never undo a
 * rotation.
 */
import { assert, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { TokenSet } from "@subauth/core"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { type Engine, forEachEngine, newTenant, services } from "./support.js"

const storeOf = (tenantId: string, lease?: SqlTokenStore.LeaseOptions) =>
  SqlTokenStore.make({ tenantId, ...(lease !== undefined ? { lease } : {}) })


forEachEngine("SqlTokenStore", (engine: Engine) => {
  TokenStoreSuite.run(
    `SQL (${engine})`,
    Layer.unwrapEffect(Effect.map(newTenant(), (tenantId) => SqlTokenStore.layer({ tenantId }))).pipe(Layer.provide(services(engine)))
  )

  const scenario = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | import("../src/Tenants.js").Tenants | import("../src/Vault.js").Vault | import("@subauth/core").SecureRandom.SecureRandom>) =>
    body.pipe(Effect.provide(services(engine)))

  it.live("a tenant's store never sees another tenant's users, even with the same user id", () =>
    scenario(Effect.gen(function*() {
      const a = yield* storeOf(yield* newTenant("a"))
      const b = yield* storeOf(yield* newTenant("b"))
      yield* a.set("alice", TokenStoreSuite.samples.full)
      assert.isTrue(Option.isNone(yield* b.get("alice")))
      yield* b.remove("alice")
      assert.isTrue(Option.isSome(yield* a.get("alice")))
    })))

  it.live("tokens are stored as ciphertexts: no column holds a token", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* storeOf(yield* newTenant())
      const tokens = TokenStoreSuite.samples.full
      yield* store.set("alice", tokens)
      const rows = yield* sql`SELECT * FROM connections`
      const text = JSON.stringify(rows)
      for (const secret of [tokens.accessToken, Option.getOrThrow(tokens.refreshToken), Option.getOrThrow(tokens.idToken)]) {
        assert.notInclude(text, Redacted.value(secret))
        assert.notInclude(text, Redacted.value(secret).slice(5, 25))
      }
      assert.match(String((rows[0] as { refresh_token: string }).refresh_token), /^v1\./)
    })))

  it.live("a ciphertext copied to another user's row or another column does not decrypt: DecryptFailed", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* newTenant()
      const store = yield* storeOf(tenant)
      yield* store.set("alice", TokenStoreSuite.samples.full)
      yield* store.set("bob", TokenStoreSuite.samples.minimal)
      // Bob's row gets Alice's refresh token ciphertext, and Alice's access token column gets her refresh token.
      yield* sql`UPDATE connections SET refresh_token = (SELECT refresh_token FROM connections WHERE user_id = 'alice')
        WHERE user_id = 'bob'`
      const bob = yield* Effect.flip(store.get("bob"))
      assert.strictEqual(bob.reason, "DecryptFailed")
      assert.notInclude(bob.message, "rt_FAKE")
      yield* sql`UPDATE connections SET access_token = refresh_token WHERE user_id = 'alice'`
      assert.strictEqual((yield* Effect.flip(store.get("alice"))).reason, "DecryptFailed")
      // Another tenant's row: moved across tenants, with the same user id.
      const other = yield* newTenant("other")
      const otherStore = yield* storeOf(other)
      yield* otherStore.set("carol", TokenStoreSuite.samples.full)
      yield* sql`UPDATE connections SET tenant_id = ${tenant}, user_id = 'dave' WHERE tenant_id = ${other}`
      assert.strictEqual((yield* Effect.flip(store.get("dave"))).reason, "DecryptFailed")
    })))

  it.live("a flipped bit in a ciphertext is DecryptFailed, never garbage", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* storeOf(yield* newTenant())
      yield* store.set("alice", TokenStoreSuite.samples.full)
      const [row] = yield* sql<{ access_token: string }>`SELECT access_token FROM connections`
      const body = row!.access_token
      const flipped = body.slice(0, -3) + (body.at(-3) === "A" ? "B" : "A") + body.slice(-2)
      yield* sql`UPDATE connections SET access_token = ${flipped}`
      assert.strictEqual((yield* Effect.flip(store.get("alice"))).reason, "DecryptFailed")
    })))

  it.live("writing the last use or last refresh never rewrites the tokens", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* newTenant()
      const store = yield* storeOf(tenant)
      const generations = Array.from({ length: 20 }, (_, i) =>
        new TokenSet.TokenSet({ ...TokenStoreSuite.samples.full, refreshToken: Option.some(Redacted.make(`rt_gen_${i}`)) }))
      yield* store.set("alice", generations[0]!)
      // Writers of other columns race the rotations; the last rotation must survive them all.
      yield* Effect.all([
        Effect.forEach(generations.slice(1), (t) => store.set("alice", t), { discard: true }),
        Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
          Effect.zipRight(
            SqlTokenStore.touchUsed(sql, tenant, "alice", 1_000_000 + i * 61_000),
            SqlTokenStore.touchRefreshed(sql, tenant, "alice", 2_000_000 + i)
          ), { discard: true })
      ], { concurrency: "unbounded" })
      const stored = Option.getOrThrow(yield* store.get("alice"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored.refreshToken)), "rt_gen_19")
    })))

  it.live("a sign-in marked dead reads as none, for every store of the tenant, until new tokens are written", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* newTenant()
      const [one, two] = [yield* storeOf(tenant), yield* storeOf(tenant)]
      yield* one.set("alice", TokenStoreSuite.samples.full)
      yield* SqlTokenStore.markReauthRequired(sql, tenant, "alice", "RefreshTokenReused")
      assert.isTrue(Option.isNone(yield* two.get("alice")))
      yield* two.set("alice", TokenStoreSuite.samples.minimal)
      assert.isTrue(Option.isSome(yield* one.get("alice")))
    })))

  it.live("the lease excludes holders of two stores (as two replicas), and a waiter gives up without taking it", () =>
    scenario(Effect.gen(function*() {
      const tenant = yield* newTenant()
      const lease = { duration: Duration.millis(600), wait: Duration.millis(300) }
      const [a, b] = [yield* storeOf(tenant, lease), yield* storeOf(tenant, lease)]
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // The holder works for longer than the lease lasts: its renewals keep it.
      const holder = yield* Effect.fork(a.withLock("alice", Effect.zipRight(Deferred.succeed(inside, undefined), Effect.zipRight(Effect.sleep("1500 millis"), Deferred.await(release)))))
      yield* Deferred.await(inside)
      const waited = yield* Effect.exit(b.withLock("alice", Effect.succeed("taken")))
      assert.isTrue(Exit.isFailure(waited))
      if (Exit.isFailure(waited) && waited.cause._tag === "Fail") assert.strictEqual(waited.cause.error.reason, "LockFailed")
      // Past the lease's own duration, still held.
      yield* Effect.sleep("1 second")
      assert.isTrue(Exit.isFailure(yield* Effect.exit(b.withLock("alice", Effect.succeed("taken")))))
      // Another user is free.
      assert.strictEqual(yield* b.withLock("bob", Effect.succeed("free")), "free")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      assert.strictEqual(yield* b.withLock("alice", Effect.succeed("next")), "next")
    })))

  it.live("a lease left by a holder that stopped renewing is taken over once it runs out, not before", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* newTenant()
      const impatient = yield* storeOf(tenant, { duration: Duration.millis(300), wait: Duration.millis(50) })
      const patient = yield* storeOf(tenant, { duration: Duration.millis(300), wait: Duration.seconds(10) })
      // A holder that died: its row, nobody renewing it, running out in 400 ms.
      yield* sql`INSERT INTO leases (tenant_id, user_id, holder, expires_at) VALUES (${tenant}, 'alice', 'dead replica', ${Date.now() + 400})`
      const early = yield* Effect.exit(impatient.withLock("alice", Effect.succeed("too early")))
      assert.isTrue(Exit.isFailure(early))
      assert.strictEqual(yield* patient.withLock("alice", Effect.succeed("mine")), "mine")
      assert.lengthOf(yield* sql`SELECT holder FROM leases WHERE tenant_id = ${tenant}`, 0)
    })))

  it.live("a holder whose lease was taken over is interrupted before it goes on", () =>
    scenario(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* newTenant()
      const store = yield* storeOf(tenant, { duration: Duration.millis(300), wait: Duration.seconds(1) })
      let reached = false
      const inside = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(store.withLock("alice", Effect.gen(function*() {
        yield* Deferred.succeed(inside, undefined)
        yield* Effect.sleep("2 seconds")
        reached = true
      })))
      yield* Deferred.await(inside)
      yield* sql`UPDATE leases SET holder = 'someone else' WHERE tenant_id = ${tenant} AND user_id = 'alice'`
      const exit = yield* Fiber.await(holder)
      assert.isFalse(reached)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        assert.strictEqual(exit.cause.error.reason, "LockFailed")
        assert.include(exit.cause.error.message, "lost")
      }
    })))

  it.live("withLock from an uninterruptible caller (an HTTP handler) ends when its work ends", () =>
    scenario(Effect.gen(function*() {
      const store = yield* storeOf(yield* newTenant(), { duration: Duration.millis(300), wait: Duration.seconds(1) })
      // The renewer and the lost-lease watch must stop although the caller cannot be interrupted.
      const result = yield* Effect.uninterruptible(store.withLock("alice", Effect.as(Effect.sleep("400 millis"), "done"))).pipe(
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(result, "done")
    })))
})
