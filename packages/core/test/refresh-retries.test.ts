/**
 * What a refresh retries, and what the caller is told (protocol.md §3: refresh
 * tokens are single-use): a request that may have reached the issuer without
 * an answer is repeated once, and a `refresh_token_reused` after it means the
 * sign-in is dead; `retry-after` is honoured within the budget, and a longer
 * one fails at once; a refresh that never gets an answer holds the store's
 * lock less long than other processes wait for it.
 */
import { HttpClient, HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Clock, DateTime, Duration, Effect, Fiber, Layer, Logger, LogLevel, Option, Redacted, TestClock } from "effect"
import { TransportError } from "../src/AuthError.js"
import * as Provider from "../src/Provider.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { harness, refreshFailingWith, refreshRequests, signInDue } from "./support.js"

const quiet = Logger.minimumLogLevel(LogLevel.None)
const fast = harness({ manager: { retry: { baseDelay: "2 millis" } } }).pipe(Layer.provideMerge(quiet))

describe("refresh retries (loopback)", () => {
  it.live("the issuer rotated the token but its answer was lost: one retry, then ReauthRequired(RefreshAnswerLost)", () =>
    Effect.gen(function*() {
      const error = yield* refreshFailingWith(FakeHttp.lostAnswer, [1])
      assert.strictEqual(error._tag, "ReauthRequired")
      if (error._tag !== "ReauthRequired") return
      assert.strictEqual(error.reason, "RefreshAnswerLost")
      assert.include(error.message, "answer was lost")
      assert.include(error.message, "run \"subauth login\" to sign in again")
      assert.deepStrictEqual((yield* refreshRequests).map((r) => r.fault), ["LostAnswer", undefined])
    }).pipe(Effect.provide(fast)))

  it.live("every answer lost: two requests, not four, and the error says the token may be spent; the next run learns it was", () =>
    Effect.gen(function*() {
      const error = yield* refreshFailingWith(FakeHttp.lostAnswer)
      assert.isTrue(error._tag === "TransportError" && error.reason === "AnswerLost", error.message)
      assert.include(error.message, "it spent the refresh token")
      assert.include(error.message, "then sign in again")
      assert.lengthOf(yield* refreshRequests, 2)

      // The next run (a new manager on the same store) gets the truth in one request.
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* server.clearFaults
      const next = yield* TokenManager.make({ retry: { baseDelay: "2 millis" } })
      const dead = yield* Effect.flip(next.get)
      assert.isTrue(dead._tag === "ReauthRequired" && dead.reason === "RefreshTokenReused", dead.message)
      assert.lengthOf(yield* refreshRequests, 3)
    }).pipe(Effect.provide(fast), Effect.scoped))

  it.live("429 with retry-after: 1000: one request, failing at once and saying when to try again", () =>
    Effect.gen(function*() {
      const error = yield* refreshFailingWith(FakeHttp.status(429, { error: { message: "slow down" } }, { "retry-after": "1000" }))
      assert.isTrue(error._tag === "TransportError" && error.reason === "RateLimited", error.message)
      if (error._tag === "TransportError") assert.deepStrictEqual(error.retryAfter, Duration.seconds(1000))
      assert.include(error.message, "try again in 16m 40s")
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(fast)))
})

describe("retry-after within the budget is honoured (TestClock)", () => {
  it.effect("the retry waits the 3 seconds the issuer asked for, no less", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* signInDue
      yield* server.inject({ endpoint: "token", fault: FakeHttp.status(429, { error: { message: "slow down" } }, { "retry-after": "3" }), calls: [1] })
      const fiber = yield* Effect.fork(TokenManager.get)
      // Real I/O runs between the steps of the test clock.
      const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      const sent = Effect.map(refreshRequests, (r) => r.length)
      for (let i = 0; i < 50 && (yield* sent) < 1; i++) yield* settle
      yield* TestClock.adjust("2999 millis")
      yield* settle
      assert.strictEqual(yield* sent, 1, "not before the 3 seconds")
      yield* TestClock.adjust("1 millis")
      const tokens = yield* Fiber.join(fiber)
      assert.isTrue(Option.isSome(tokens.refreshToken))
      assert.strictEqual(yield* sent, 2)
    }).pipe(Effect.provide(harness().pipe(Layer.provideMerge(quiet)))))
})

// An HTTP client that never answers, and a store that records how long its lock is held (TestClock).
const neverAnswers = HttpClient.make(() => Effect.never)
const refused = HttpClient.make((request) =>
  Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) }))
)

const heldFor = (client: HttpClient.HttpClient) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.makeMemory
    const now = yield* Clock.currentTimeMillis
    yield* store.set("default", new TokenSet.TokenSet({
      accessToken: Redacted.make("at"),
      refreshToken: Option.some(Redacted.make("rt")),
      idToken: Option.none(),
      expiresAt: DateTime.unsafeMake(now),
      obtainedAt: DateTime.unsafeMake(now - 1000),
      accountId: Option.none(),
      planType: Option.none(),
      email: Option.none(),
      userId: Option.none(),
      claimsVerified: false
    }))
    const holds: Array<number> = []
    const recording: TokenStore.TokenStore.Service = {
      ...store,
      withLock: (profile, effect) =>
        store.withLock(profile, Effect.gen(function*() {
          const from = yield* Clock.currentTimeMillis
          return yield* Effect.ensuring(effect, Effect.flatMap(Clock.currentTimeMillis, (to) => Effect.sync(() => holds.push(to - from))))
        }))
    }
    const manager = yield* TokenManager.make().pipe(
      Effect.provideService(TokenStore.TokenStore, recording),
      Effect.provideService(HttpClient.HttpClient, client),
      Effect.provideService(Provider.Provider, Provider.openai)
    )
    const fiber = yield* Effect.fork(Effect.flip(manager.get))
    for (let i = 0; i < 200; i++) yield* TestClock.adjust("1 second")
    return { error: yield* Fiber.join(fiber), holds }
  }).pipe(Effect.scoped)

describe("the longest refresh under the lock (TestClock)", () => {
  it.effect("an issuer that never answers: the lock is held one timeout (30 s), less than the 60 s others wait", () =>
    Effect.gen(function*() {
      const { error, holds } = yield* heldFor(neverAnswers)
      assert.isTrue(error._tag === "TransportError" && error.reason === "Timeout", error.message)
      assert.lengthOf(holds, 1)
      // The request timeout (30 s) and the retry budget (20 s) bound it; other processes wait 60 s.
      assert.isAtMost(holds[0]!, 50_000)
    }))

  it.effect("an issuer that refuses connections: four attempts within the budget", () =>
    Effect.gen(function*() {
      const { error, holds } = yield* heldFor(refused)
      assert.isTrue(error._tag === "TransportError" && error.reason === "ConnectionFailed", error.message)
      assert.isAtMost(holds[0]!, 20_000)
    }))
})

describe("retryTransient with the defaults (TestClock)", () => {
  it.effect("a request that times out after 60 s (a backend that never sends headers) is not repeated: past the budget", () =>
    Effect.gen(function*() {
      let attempts = 0
      const timesOut = Effect.suspend(() => {
        attempts++
        return Effect.zipRight(
          Effect.sleep("60 seconds"),
          Effect.fail(new TransportError({ reason: "Timeout", endpoint: "responses", description: "no answer within 1m" }))
        )
      })
      const fiber = yield* Effect.fork(Effect.flip(TokenEndpoint.retryTransient()(timesOut)))
      for (let i = 0; i < 300; i++) yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(attempts, 1)
    }))
})
