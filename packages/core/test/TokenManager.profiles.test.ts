/**
 * A server holds one profile per user: the manager's memory must stay bounded
 * (least recently used idle profiles are dropped), a caller may ask for a token
 * that stays valid for a while, and an observer hears of every refresh.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Deferred, Duration, Effect, Exit, Fiber, Option, Redacted, Scope, TestClock } from "effect"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { harness, refreshRequests } from "./support.js"

// Real time passes while the test clock stands still: for sockets to deliver.
const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const counting = (store: TokenStore.TokenStore.Service) => {
  const reads: Array<string> = []
  const service: TokenStore.TokenStore.Service = {
    ...store,
    get: (profile) => Effect.zipRight(Effect.sync(() => reads.push(profile)), store.get(profile))
  }
  return { reads, service }
}

const signInAs = (profile: string, options?: Parameters<FakeOAuthServer.FakeOAuthServer.Service["issueTokens"]>[0]) =>
  Effect.gen(function*() {
    const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens(options)
    yield* (yield* TokenStore.TokenStore).set(profile, tokens)
    return tokens
  })

describe("TokenManager: many profiles", () => {
  it.scoped("keeps at most maxProfiles idle profiles in memory, dropping the least recently used", () =>
    Effect.gen(function*() {
      for (const p of ["a", "b", "c"]) yield* signInAs(p)
      const { reads, service } = counting(yield* TokenStore.TokenStore)
      const manager = yield* TokenManager.make({ maxProfiles: 2 }).pipe(Effect.provideService(TokenStore.TokenStore, service))
      yield* manager.forProfile("a").get
      yield* manager.forProfile("b").get
      yield* manager.forProfile("a").get // a is now the most recent
      assert.deepStrictEqual(reads, ["a", "b"])
      yield* manager.forProfile("c").get // drops b
      yield* manager.forProfile("a").get
      assert.deepStrictEqual(reads, ["a", "b", "c"])
      yield* manager.forProfile("b").get // read again: it was dropped
      assert.deepStrictEqual(reads, ["a", "b", "c", "b"])
      assert.lengthOf(yield* refreshRequests, 0)
    }).pipe(Effect.provide(harness())))

  it.scoped("memory stays bounded over 5,000 profiles", () =>
    Effect.gen(function*() {
      const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
      const store = yield* TokenStore.TokenStore
      const { reads, service } = counting(store)
      const manager = yield* TokenManager.make({ maxProfiles: 100 }).pipe(Effect.provideService(TokenStore.TokenStore, service))
      for (let i = 0; i < 5000; i++) {
        yield* store.set(`user-${i}`, tokens)
        yield* manager.forProfile(`user-${i}`).get
        yield* store.remove(`user-${i}`)
      }
      // The 100 most recent are served from memory (their store entries are gone); older ones are not.
      for (let i = 4900; i < 5000; i++) yield* manager.forProfile(`user-${i}`).get
      assert.lengthOf(reads, 5000)
      const dropped = yield* Effect.either(manager.forProfile("user-0").get)
      assert.isTrue(dropped._tag === "Left" && dropped.left._tag === "ReauthRequired" && dropped.left.reason === "NotSignedIn")
    }).pipe(Effect.provide(harness())))

  it.scoped("a profile with a refresh in flight is not dropped, whatever the count", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const signedIn = yield* signInAs("slow")
      yield* signInAs("other", { accessTokenLifetime: "10 hours" })
      const manager = yield* TokenManager.make({ maxProfiles: 1 })
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      yield* server.inject({ endpoint: "token", fault: FakeHttp.latency("10 seconds"), calls: [1] })
      const refreshing = yield* Effect.fork(manager.forProfile("slow").get)
      // Wait until the refresh request has arrived (it sleeps on the fake's clock).
      while ((yield* refreshRequests).length === 0) yield* realSleep(2)
      yield* manager.forProfile("other").get
      // The same handle is still in memory: a second caller joins the flight instead of starting another.
      const joined = yield* Effect.fork(manager.forProfile("slow").get)
      yield* TestClock.adjust("10 seconds")
      const [a, b] = [yield* Fiber.join(refreshing), yield* Fiber.join(joined)]
      assert.strictEqual(a, b)
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))
})

describe("TokenManager.getValidFor", () => {
  it.scoped("refreshes when the token has less than the asked validity left, and not otherwise", () =>
    Effect.gen(function*() {
      const signedIn = yield* signInAs("default", { accessTokenLifetime: "1 hour" })
      const manager = yield* TokenManager.TokenManager
      const first = yield* manager.getValidFor("30 minutes")
      assert.isTrue(TokenSet.hasAccessToken(first, signedIn.accessToken))
      yield* TestClock.adjust("31 minutes") // 29 minutes left: enough for get, not for 30 minutes
      assert.strictEqual(yield* manager.get, first)
      assert.lengthOf(yield* refreshRequests, 0)
      const fresher = yield* manager.getValidFor("30 minutes")
      assert.isFalse(TokenSet.hasAccessToken(fresher, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 1)
      assert.strictEqual(yield* manager.getValidFor(Duration.minutes(30)), fresher)
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))

  it.scoped("asks no refresh that could not help: a token whose whole life is shorter than the validity", () =>
    Effect.gen(function*() {
      const signedIn = yield* signInAs("default", { accessTokenLifetime: "1 hour" })
      const manager = yield* TokenManager.TokenManager
      const token = yield* manager.getValidFor("2 hours")
      assert.isTrue(TokenSet.hasAccessToken(token, signedIn.accessToken))
      yield* TestClock.adjust("20 minutes")
      assert.strictEqual(yield* manager.getValidFor("2 hours"), token)
      assert.lengthOf(yield* refreshRequests, 0)
      // The leeway still applies.
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt) - 1000)
      assert.isFalse(TokenSet.hasAccessToken(yield* manager.getValidFor("2 hours"), signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))
})

describe("TokenManager: events", () => {
  it.scoped("tells the observer of a refresh, after the new tokens are stored, and of a dead login", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const store = yield* TokenStore.TokenStore
      const signedIn = yield* signInAs("default")
      const events: Array<{ readonly tag: string; readonly stored: boolean; readonly reason?: string }> = []
      const seen = yield* Deferred.make<void>()
      const manager = yield* TokenManager.make({
        onEvent: (event) =>
          Effect.gen(function*() {
            const stored = yield* Effect.orDie(store.get(event.profile))
            events.push(event._tag === "Refreshed"
              ? { tag: event._tag, stored: Option.isSome(stored) && TokenSet.hasAccessToken(stored.value, event.tokens.accessToken) }
              : { tag: event._tag, stored: Option.isSome(stored), reason: event.error._tag === "ReauthRequired" ? event.error.reason : event.error._tag })
            yield* Deferred.succeed(seen, undefined)
          })
      })
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const refreshed = yield* manager.get
      assert.deepStrictEqual(events, [{ tag: "Refreshed", stored: true }])
      yield* server.revokeGrantOf(Redacted.value(Option.getOrThrow(refreshed.refreshToken)))
      yield* TestClock.setTime(DateTime.toEpochMillis(refreshed.expiresAt))
      const failed = yield* Effect.either(manager.get)
      assert.isTrue(failed._tag === "Left")
      assert.deepStrictEqual(events[1], { tag: "RefreshFailed", stored: true, reason: "RefreshTokenInvalidated" })
      // A known dead login is reported without another refresh, and without another event.
      yield* Effect.either(manager.get)
      assert.lengthOf(events, 2)
    }).pipe(Effect.provide(harness())))

  it.scoped("an observer that fails does not fail the refresh", () =>
    Effect.gen(function*() {
      const signedIn = yield* signInAs("default")
      const manager = yield* TokenManager.make({ onEvent: () => Effect.die(new Error("observer broke")) })
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const refreshed = yield* manager.get
      assert.isFalse(TokenSet.hasAccessToken(refreshed, signedIn.accessToken))
    }).pipe(Effect.provide(harness())))
})

describe("TokenStore.makeKeyedLock", () => {
  it.effect("keeps an entry only while its lock is held or awaited", () =>
    Effect.gen(function*() {
      const withLock = yield* TokenStore.makeKeyedLock
      for (let i = 0; i < 1000; i++) yield* withLock(`key-${i}`, Effect.void)
      assert.strictEqual(withLock.size(), 0)
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(withLock("k", Deferred.await(gate)))
      const waiter = yield* Effect.fork(withLock("k", Effect.void))
      yield* Effect.yieldNow()
      assert.strictEqual(withLock.size(), 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(waiter)
      assert.strictEqual(withLock.size(), 0)
      const interrupted = yield* Effect.fork(withLock("gone", Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      assert.strictEqual(withLock.size(), 0)
    }))
})

describe("TokenManager: callers that cannot be interrupted", () => {
  it.live("a refresh started from an uninterruptible region still ends when the manager's scope closes", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* signInAs("default", { accessTokenLifetime: "1 second" })
      yield* Effect.sleep("700 millis") // past half its life: due
      // The issuer never answers in time: the refresh is still running when the scope closes.
      yield* server.inject({ endpoint: "token", fault: FakeHttp.latency("1 hour"), calls: "all" })
      const scope = yield* Scope.make()
      const manager = yield* TokenManager.make().pipe(Scope.extend(scope))
      yield* Effect.fork(Effect.uninterruptible(Effect.either(manager.get)))
      yield* Effect.gen(function*() {
        while ((yield* refreshRequests).length === 0) yield* Effect.sleep("5 millis")
      }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("no refresh was sent") }))
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("3 seconds"), Effect.option)
      assert.isTrue(closed._tag === "Some", "the scope did not close: the refresh could not be interrupted")
    }).pipe(Effect.provide(harness())))
})
