/**
 * Refresh failures against the fake issuer over loopback (real sockets, live clock).
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { type AddressInfo } from "node:net"
import { createServer } from "node:net"
import * as Provider from "../src/Provider.js"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { codexFixture } from "./fixtures.js"
import { fieldOf, harness, onRefresh, refreshRequests, signInDue } from "./support.js"

const fast = harness({ manager: { retry: { baseDelay: "2 millis" }, request: { timeout: "300 millis" } } }).pipe(
  Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Error))
)

const permanent = codexFixture<{ cases: Record<string, { status: number; body: unknown }> }>("refresh-errors.json").cases

describe("refresh failures (loopback)", () => {
  for (
    const [name, reason] of [
      ["reused", "RefreshTokenReused"],
      ["expired", "RefreshTokenExpired"],
      ["invalidated", "RefreshTokenInvalidated"],
      ["unknown401", "RefreshRejected"]
    ] as const
  ) {
    it.live(`${name}: ReauthRequired(${reason}) after exactly one request, remembered until the tokens change`, () =>
      Effect.gen(function*() {
        yield* signInDue
        const { status, body } = permanent[name]!
        yield* onRefresh(FakeHttp.status(status, body), [1])
        const store = yield* TokenStore.TokenStore
        const locks = { count: 0 }
        const manager = yield* TokenManager.make({ retry: { baseDelay: "2 millis" } }).pipe(
          Effect.provideService(TokenStore.TokenStore, {
            ...store,
            withLock: (p, effect) => Effect.zipRight(Effect.sync(() => locks.count++), store.withLock(p, effect))
          })
        )
        const error = yield* Effect.flip(manager.get)
        assert.strictEqual(error._tag, "ReauthRequired")
        if (error._tag !== "ReauthRequired") return
        assert.strictEqual(error.reason, reason)
        assert.strictEqual(error.status, 401)
        assert.include(error.message, "run \"subauth login\" to sign in again")
        assert.lengthOf(yield* refreshRequests, 1)

        // Remembered: asking again costs no request, and no lock either.
        const again = yield* Effect.flip(manager.get)
        assert.strictEqual(again, error)
        assert.lengthOf(yield* refreshRequests, 1)
        assert.strictEqual(locks.count, 1)

        // A new login in the store lifts it.
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const fresh = yield* server.issueTokens()
        yield* (yield* TokenStore.TokenStore).set("default", fresh)
        assert.isTrue(TokenSet.hasAccessToken(yield* manager.get, fresh.accessToken))
      }).pipe(Effect.provide(fast), Effect.scoped))
  }

  it.live("a copy of the login elsewhere spent the token first: the issuer's reuse detection gives ReauthRequired(RefreshTokenReused)", () =>
    Effect.gen(function*() {
      const due = yield* signInDue
      // A copy of the login elsewhere (another machine, its own store) spends the refresh token first.
      const otherStore = yield* TokenStore.makeMemory
      yield* otherStore.set("default", due)
      const other = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, otherStore))
      yield* other.get

      const error = yield* Effect.flip((yield* TokenManager.TokenManager).get)
      assert.isTrue(error._tag === "ReauthRequired" && error.reason === "RefreshTokenReused")
      const sent = (yield* refreshRequests).map((r) => fieldOf(r, "refresh_token"))
      assert.deepStrictEqual(sent, [Redacted.value(Option.getOrThrow(due.refreshToken)), Redacted.value(Option.getOrThrow(due.refreshToken))])
    }).pipe(Effect.provide(fast), Effect.scoped))

  it.live("a grant revoked at the issuer gives ReauthRequired(RefreshTokenInvalidated)", () =>
    Effect.gen(function*() {
      const due = yield* signInDue
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* server.revokeGrantOf(Redacted.value(Option.getOrThrow(due.refreshToken)))
      const error = yield* Effect.flip(TokenManager.get)
      assert.isTrue(error._tag === "ReauthRequired" && error.reason === "RefreshTokenInvalidated")
    }).pipe(Effect.provide(fast)))

  it.live("an expired refresh token gives ReauthRequired(RefreshTokenExpired)", () =>
    Effect.gen(function*() {
      yield* signInDue
      const server = yield* FakeOAuthServer.FakeOAuthServer
      yield* server.configure({ refreshTokenLifetime: Option.some(Duration.zero) })
      const error = yield* Effect.flip(TokenManager.get)
      assert.isTrue(error._tag === "ReauthRequired" && error.reason === "RefreshTokenExpired")
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(fast)))

  it.live("503 twice then 200: success after 3 requests", () =>
    Effect.gen(function*() {
      const due = yield* signInDue
      yield* onRefresh(FakeHttp.status(503, { error: { message: "unavailable" } }), [1, 2])
      const tokens = yield* TokenManager.get
      assert.isFalse(TokenSet.hasAccessToken(tokens, due.accessToken))
      const requests = yield* refreshRequests
      assert.lengthOf(requests, 3)
      assert.deepStrictEqual(requests.map((r) => r.fault), ["Status", "Status", undefined])
      // Retrying a 5xx re-sends the same refresh token: the server did not spend it.
      assert.strictEqual(new Set(requests.map((r) => fieldOf(r, "refresh_token"))).size, 1)
    }).pipe(Effect.provide(fast)))

  it.live("5xx on every attempt: a TransportError after 4 requests", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.status(500, { error: { message: "fake server error", code: "internal_error" } }))
      const error = yield* Effect.flip(TokenManager.get)
      assert.isTrue(error._tag === "TransportError" && error.reason === "ServerError" && error.status === 500)
      assert.include(error.message, "try again later")
      assert.lengthOf(yield* refreshRequests, 4)
    }).pipe(Effect.provide(fast)))

  it.live("429 is retried", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.status(429, { error: { message: "slow down" } }), [1])
      yield* TokenManager.get
      assert.lengthOf(yield* refreshRequests, 2)
    }).pipe(Effect.provide(fast)))

  it.live("malformed JSON on 200: a typed InvalidResponse, not retried (the token may be spent)", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.malformedJson(200), [1])
      const error = yield* Effect.flip(TokenManager.get)
      assert.isTrue(error._tag === "TokenEndpointError" && error.reason === "InvalidResponse" && error.status === 200)
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(fast)))

  it.live("a connection reset is retried", () =>
    Effect.gen(function*() {
      const due = yield* signInDue
      yield* onRefresh(FakeHttp.reset, [1])
      const tokens = yield* TokenManager.get
      assert.isFalse(TokenSet.hasAccessToken(tokens, due.accessToken))
      const requests = yield* refreshRequests
      assert.deepStrictEqual(requests.map((r) => r.fault), ["Reset", undefined])
    }).pipe(Effect.provide(fast)))

  it.live("a request that takes longer than the timeout is abandoned and retried", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.latency("2 seconds"), [1])
      yield* TokenManager.get
      const requests = yield* refreshRequests
      assert.deepStrictEqual(requests.map((r) => r.fault), ["Latency", undefined])
    }).pipe(Effect.provide(fast)))

  it.live("a 400 error body is a TokenEndpointError with the OAuth code lifted, not retried", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.status(400, { error: "invalid_request", error_description: "something is off" }))
      const error = yield* Effect.flip(TokenManager.get)
      assert.isTrue(error._tag === "TokenEndpointError" && error.reason === "ErrorResponse")
      if (error._tag === "TokenEndpointError") {
        assert.strictEqual(error.code, "invalid_request")
        assert.strictEqual(error.description, "something is off")
      }
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(fast)))

  it.live("unreachable issuer: a TransportError(ConnectionFailed) after the retries", () =>
    Effect.gen(function*() {
      const due = yield* signInDue
      const store = yield* TokenStore.TokenStore
      // A port that was just free: nothing listens there.
      const port = yield* Effect.async<number>((resume) => {
        const probe = createServer().listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as AddressInfo
          probe.close(() => resume(Effect.succeed(port)))
        })
      })
      const nowhere = yield* Provider.make({ issuer: `http://127.0.0.1:${port}`, allowInsecureHttp: true })
      const manager = yield* TokenManager.make({ retry: { baseDelay: "2 millis" } }).pipe(
        Effect.provideService(Provider.Provider, nowhere),
        Effect.provideService(TokenStore.TokenStore, store)
      )
      const error = yield* Effect.flip(manager.get)
      assert.isTrue(error._tag === "TransportError" && error.reason === "ConnectionFailed", error.message)
      assert.include(error.message, "could not reach the token endpoint")
      assert.isTrue(TokenSet.hasAccessToken(Option.getOrThrow(yield* store.get("default")), due.accessToken))
    }).pipe(Effect.provide(fast), Effect.scoped))
})
