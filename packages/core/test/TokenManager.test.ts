import { assert, describe, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Cause, Clock, DateTime, Deferred, Duration, Effect, Exit, Fiber, FiberId, Option, Redacted, TestClock } from "effect"
import type { HttpClient } from "@effect/platform"
import type * as Provider from "../src/Provider.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { fieldOf, harness, refreshRequests, signIn } from "./support.js"

const LEEWAY = Duration.toMillis(TokenManager.DEFAULT_LEEWAY)

describe("TokenManager", () => {
  it.effect("returns the stored token, then serves it from memory with no I/O while it is fresh", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      const first = yield* manager.get
      assert.isTrue(TokenSet.hasAccessToken(first, signedIn.accessToken))
      // Empty the store: a fresh token must come from memory alone.
      yield* (yield* TokenStore.TokenStore).remove("default")
      yield* TestClock.adjust("30 minutes")
      const again = yield* manager.get
      assert.strictEqual(again, first)
      assert.lengthOf(yield* refreshRequests, 0)
    }).pipe(Effect.provide(harness())))

  it.effect("loads valid stored tokens with one read and without the store's lock (a script calling subauth token in a loop)", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      let reads = 0
      let locks = 0
      const counting: TokenStore.TokenStore.Service = {
        ...store,
        get: (p) => Effect.zipRight(Effect.sync(() => reads++), store.get(p)),
        withLock: (p, effect) => Effect.zipRight(Effect.sync(() => locks++), store.withLock(p, effect))
      }
      const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, counting))
      const got = yield* manager.get
      assert.isTrue(TokenSet.hasAccessToken(got, signedIn.accessToken))
      assert.deepStrictEqual({ reads, locks }, { reads: 1, locks: 0 })
      // Due tokens are read again under the lock before they are refreshed.
      const due = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, counting))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - LEEWAY)
      yield* due.get
      assert.deepStrictEqual({ reads, locks }, { reads: 3, locks: 1 })
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness()), Effect.scoped))

  it.effect("refreshes exactly at expiresAt - leeway: not at t-1, at t, and not again at t+1", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      const t = DateTime.toEpochMillis(signedIn.expiresAt) - LEEWAY
      yield* TestClock.setTime(t - 1)
      const before = yield* manager.get
      assert.isTrue(TokenSet.hasAccessToken(before, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 0)

      yield* TestClock.setTime(t)
      const at = yield* manager.get
      assert.isFalse(TokenSet.hasAccessToken(at, signedIn.accessToken))
      assert.isTrue(DateTime.toEpochMillis(at.expiresAt) - LEEWAY > t)
      const requests = yield* refreshRequests
      assert.lengthOf(requests, 1)
      assert.strictEqual(fieldOf(requests[0]!, "refresh_reason"), "proactive_expiry")
      assert.strictEqual(fieldOf(requests[0]!, "refresh_token"), Redacted.value(Option.getOrThrow(signedIn.refreshToken)))

      yield* TestClock.setTime(t + 1)
      assert.strictEqual(yield* manager.get, at)
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))

  it.effect("writes the rotated tokens to the store before handing them out", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      const store = yield* TokenStore.TokenStore
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const refreshed = yield* manager.get
      const stored = Option.getOrThrow(yield* store.get("default"))
      assert.isTrue(TokenSet.hasAccessToken(stored, refreshed.accessToken))
      assert.isFalse(TokenSet.sameRefreshToken(stored, signedIn))
      assert.deepStrictEqual(stored.accountId, signedIn.accountId)
    }).pipe(Effect.provide(harness())))

  it.effect("single flight: one refresh and two store reads (without the lock, then under it) for many concurrent callers; all get the new token", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      let reads = 0
      const counting: TokenStore.TokenStore.Service = { ...store, get: (p) => Effect.zipRight(Effect.sync(() => reads++), store.get(p)) }
      const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, counting))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - LEEWAY)
      const results = yield* Effect.all(Array.from({ length: 500 }, () => manager.get), { concurrency: "unbounded" })
      assert.lengthOf(yield* refreshRequests, 1)
      // One read without the lock finds the tokens due; one under the lock before the refresh.
      assert.strictEqual(reads, 2)
      assert.strictEqual(new Set(results.map((r) => Redacted.value(r.accessToken))).size, 1)
      assert.isFalse(TokenSet.hasAccessToken(results[0]!, signedIn.accessToken))
    }).pipe(Effect.provide(harness()), Effect.scoped))

  it.effect("no caller gets the new access token before the rotated tokens are stored", () => {
    const gate = Deferred.unsafeMake<void>(FiberId.none)
    return Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      const writing = yield* Deferred.make<void>()
      const gated: TokenStore.TokenStore.Service = {
        ...store,
        set: (p, t) => Deferred.succeed(writing, undefined).pipe(Effect.zipRight(Deferred.await(gate)), Effect.zipRight(store.set(p, t)))
      }
      const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, gated))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const first = yield* Effect.fork(manager.get)
      yield* Deferred.await(writing)
      const late = yield* Effect.fork(manager.get)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      assert.isTrue(Option.isNone(yield* Fiber.poll(first)))
      assert.isTrue(Option.isNone(yield* Fiber.poll(late)))
      assert.isTrue(TokenSet.sameRefreshToken(Option.getOrThrow(yield* store.get("default")), signedIn))
      yield* Deferred.succeed(gate, undefined)
      const [a, b] = [yield* Fiber.join(first), yield* Fiber.join(late)]
      assert.strictEqual(a, b)
      assert.isTrue(TokenSet.hasAccessToken(Option.getOrThrow(yield* store.get("default")), a.accessToken))
    }).pipe(
      // The write is an uninterruptible section: open the gate whatever happens, so the scope can close.
      Effect.ensuring(Deferred.succeed(gate, undefined)),
      Effect.provide(harness()),
      Effect.scoped
    )
  })

  it.effect("a caller interrupted while waiting does not stop the refresh", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const fiber = yield* Effect.fork(manager.get)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      const next = yield* manager.get
      assert.isFalse(TokenSet.hasAccessToken(next, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 1)
      const stored = Option.getOrThrow(yield* (yield* TokenStore.TokenStore).get("default"))
      assert.isTrue(TokenSet.hasAccessToken(stored, next.accessToken))
    }).pipe(Effect.provide(harness())))

  it.effect("used after its scope closed, a refresh fails with a clear defect instead of hanging", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* Effect.scoped(TokenManager.make())
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const exit = yield* Effect.exit(manager.get)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "scope has closed")
    }).pipe(Effect.provide(harness())))

  it.effect("adopts tokens another process stored, without a network call", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      yield* manager.get
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - LEEWAY)
      // "Another process" refreshed and wrote its tokens.
      const other = yield* server.issueTokens()
      yield* (yield* TokenStore.TokenStore).set("default", other)
      const got = yield* manager.get
      assert.isTrue(TokenSet.hasAccessToken(got, other.accessToken))
      assert.lengthOf(yield* refreshRequests, 0)
    }).pipe(Effect.provide(harness())))

  it.effect("refresh_token_reused because a process without our lock spent it: the successor it stored is adopted", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      let raced = false
      let reads = 0
      const context = yield* Effect.context<Provider.Provider | HttpClient.HttpClient>()
      // The other process refreshes between our read of the store under the lock (the second read: the first,
      // without the lock, finds the tokens due) and our request.
      const racing: TokenStore.TokenStore.Service = {
        ...store,
        get: (p) =>
          Effect.gen(function*() {
            const read = yield* store.get(p)
            if (!raced && ++reads === 2) {
              raced = true
              const answer = yield* TokenEndpoint.refresh({
                refreshToken: Option.getOrThrow(signedIn.refreshToken),
                reason: "proactive_expiry",
                profile: p
              })
              const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
              yield* store.set(p, TokenSet.fromResponse(answer, now, signedIn))
            }
            return read
          }).pipe(Effect.orDie, Effect.provide(context))
      }
      const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, racing))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const got = yield* manager.get
      const stored = Option.getOrThrow(yield* store.get("default"))
      assert.isTrue(TokenSet.hasAccessToken(got, stored.accessToken))
      const sent = (yield* refreshRequests).map((r) => fieldOf(r, "refresh_token"))
      assert.deepStrictEqual(sent, [Redacted.value(Option.getOrThrow(signedIn.refreshToken)), Redacted.value(Option.getOrThrow(signedIn.refreshToken))])
    }).pipe(Effect.provide(harness()), Effect.scoped))

  it.effect("a token shorter-lived than the leeway is refreshed at half-life, not on every call", () =>
    Effect.gen(function*() {
      yield* signIn({ accessTokenLifetime: "2 minutes" })
      const manager = yield* TokenManager.TokenManager
      yield* manager.get
      yield* manager.get
      assert.lengthOf(yield* refreshRequests, 0)
      yield* TestClock.adjust("61 seconds")
      yield* manager.get
      yield* manager.get
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness({ server: { accessTokenLifetime: "2 minutes" } }))))

  it.effect("honours a configured leeway and rejects a non-finite one", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const manager = yield* TokenManager.TokenManager
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - 60_001)
      yield* manager.get
      assert.lengthOf(yield* refreshRequests, 0)
      yield* TestClock.adjust("1 millis")
      yield* manager.get
      assert.lengthOf(yield* refreshRequests, 1)
      const bad = yield* Effect.exit(Effect.scoped(TokenManager.make({ leeway: Duration.infinity })))
      assert.isTrue(Exit.isFailure(bad) && Exit.isInterrupted(bad) === false)
    }).pipe(Effect.provide(harness({ manager: { leeway: "1 minute" } }))))

  it.effect("not signed in: ReauthRequired(NotSignedIn) with what to do", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(TokenManager.get)
      assert.strictEqual(error._tag, "ReauthRequired")
      if (error._tag === "ReauthRequired") {
        assert.strictEqual(error.reason, "NotSignedIn")
        assert.include(error.message, "subauth login")
      }
      const other = yield* Effect.flip((yield* TokenManager.TokenManager).forProfile("work").get)
      assert.include(other.message, "subauth login --profile work")
    }).pipe(Effect.provide(harness())))

  it.effect("injected tokens without a refresh token are used until they expire, then ReauthRequired(NoRefreshToken)", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      yield* store.set("default", new TokenSet.TokenSet({ ...signedIn, refreshToken: Option.none() }))
      const manager = yield* TokenManager.TokenManager
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - 1)
      assert.isTrue(TokenSet.hasAccessToken(yield* manager.get, signedIn.accessToken))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const error = yield* Effect.flip(manager.get)
      assert.isTrue(error._tag === "ReauthRequired" && error.reason === "NoRefreshToken")
      assert.lengthOf(yield* refreshRequests, 0)
    }).pipe(Effect.provide(harness())))

  it.effect("profiles have their own tokens and their own refreshes", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const store = yield* TokenStore.TokenStore
      const work = yield* server.issueTokens({ account: { accountId: "acct-work", email: "w@example.com" } })
      const home = yield* server.issueTokens({ account: { accountId: "acct-home" } })
      yield* store.set("work", work)
      yield* store.set("home", home)
      const manager = yield* TokenManager.TokenManager
      assert.deepStrictEqual((yield* manager.forProfile("work").get).accountId, Option.some("acct-work"))
      assert.deepStrictEqual((yield* manager.forProfile("home").get).accountId, Option.some("acct-home"))
      assert.strictEqual(manager.forProfile("work"), manager.forProfile("work"))
      yield* TestClock.setTime(DateTime.toEpochMillis(work.expiresAt))
      yield* Effect.all([manager.forProfile("work").get, manager.forProfile("home").get], { concurrency: 2 })
      assert.lengthOf(yield* refreshRequests, 2)
    }).pipe(Effect.provide(harness())))

  describe("recover (the access token was rejected)", () => {
    it.effect("refreshes once with refresh_reason unauthorized_recovery", () =>
      Effect.gen(function*() {
        const signedIn = yield* signIn()
        const manager = yield* TokenManager.TokenManager
        const current = yield* manager.get
        const results = yield* Effect.all(Array.from({ length: 20 }, () => manager.recover(current.accessToken)), {
          concurrency: "unbounded"
        })
        const requests = yield* refreshRequests
        assert.lengthOf(requests, 1)
        assert.strictEqual(fieldOf(requests[0]!, "refresh_reason"), "unauthorized_recovery")
        for (const r of results) assert.isFalse(TokenSet.hasAccessToken(r, signedIn.accessToken))
        // The recovered token is now the current one; a second rejection of the old token costs nothing.
        yield* manager.recover(current.accessToken)
        assert.lengthOf(yield* refreshRequests, 1)
      }).pipe(Effect.provide(harness())))

    it.effect("takes the store's newer tokens first (another process refreshed)", () =>
      Effect.gen(function*() {
        yield* signIn()
        const manager = yield* TokenManager.TokenManager
        const current = yield* manager.get
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const other = yield* server.issueTokens()
        yield* TestClock.adjust("1 second")
        yield* (yield* TokenStore.TokenStore).set("default", other)
        const recovered = yield* manager.recover(current.accessToken)
        assert.isTrue(TokenSet.hasAccessToken(recovered, other.accessToken))
        assert.lengthOf(yield* refreshRequests, 0)
      }).pipe(Effect.provide(harness())))
  })

  it.effect("a store that cannot be written: the rotated tokens are kept in memory and the failure is reported", () =>
    Effect.gen(function*() {
      const signedIn = yield* signIn()
      const store = yield* TokenStore.TokenStore
      let failWrites = false
      const flaky: TokenStore.TokenStore.Service = {
        ...store,
        set: (profile, tokens) =>
          failWrites
            ? Effect.fail(new TokenStore.TokenStoreError({ reason: "WriteFailed", profile, description: "disk full" }))
            : store.set(profile, tokens)
      }
      const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, flaky))
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      failWrites = true
      const error = yield* Effect.flip(manager.get)
      assert.strictEqual(error._tag, "TokenStoreError")
      // The new refresh token was not lost: the next calls use it, and the next refresh spends it, not the old one.
      const kept = yield* manager.get
      assert.isFalse(TokenSet.sameRefreshToken(kept, signedIn))
      failWrites = false
      yield* TestClock.setTime(DateTime.toEpochMillis(kept.expiresAt))
      yield* manager.get
      const sent = (yield* refreshRequests).map((r) => fieldOf(r, "refresh_token"))
      assert.lengthOf(sent, 2)
      assert.strictEqual(new Set(sent).size, 2)
      assert.strictEqual(sent[1], Redacted.value(Option.getOrThrow(kept.refreshToken)))
    }).pipe(Effect.provide(harness()), Effect.scoped))
})
