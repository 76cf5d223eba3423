/**
 * `refreshIfObtainedBefore`: a sign-in whose refresh token has not been used
 * for a while is refreshed once (`refresh_reason: scheduled`), before it can
 * expire unseen; tokens refreshed since (here or by another process) are
 * adopted without a request.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { DateTime, Duration, Effect, Option, Redacted, TestClock } from "effect"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { fieldOf, harness, refreshRequests, signIn } from "./support.js"

const DAY = Duration.toMillis(Duration.days(1))

// Signed in at 0 with an access token that lives 30 days: only idleness can make it refresh within them.
const longLived = signIn({ accessTokenLifetime: Duration.days(30) })

const cutoffAgo = (days: number) => Effect.map(TestClock.currentTimeMillis, (now) => DateTime.unsafeMake(now - days * DAY))

describe("TokenManager.refreshIfObtainedBefore", () => {
  it.scoped("refreshes tokens obtained before the instant, once, as `scheduled`, and stores the rotation", () =>
    Effect.gen(function*() {
      const signedIn = yield* longLived
      const events: Array<TokenManager.Event> = []
      const manager = yield* TokenManager.make({ onEvent: (event) => Effect.sync(() => void events.push(event)) })
      yield* TestClock.adjust(Duration.days(8))
      // Not due: a plain `get` does not refresh.
      assert.isTrue(TokenSet.hasAccessToken(yield* manager.get, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 0)

      const refreshed = yield* manager.refreshIfObtainedBefore(yield* cutoffAgo(7))
      const requests = yield* refreshRequests
      assert.lengthOf(requests, 1)
      assert.strictEqual(fieldOf(requests[0]!, "refresh_reason"), "scheduled")
      assert.strictEqual(fieldOf(requests[0]!, "refresh_token"), Redacted.value(Option.getOrThrow(signedIn.refreshToken)))
      assert.strictEqual(DateTime.toEpochMillis(refreshed.obtainedAt), 8 * DAY)
      const stored = Option.getOrThrow(yield* (yield* TokenStore.TokenStore).get("default"))
      assert.isTrue(TokenSet.hasAccessToken(stored, refreshed.accessToken))
      assert.deepStrictEqual(events.map((e) => [e._tag, e.reason]), [["Refreshed", "scheduled"]])

      // Asked again for the same instant: nothing to do.
      assert.strictEqual(yield* manager.refreshIfObtainedBefore(yield* cutoffAgo(7)), refreshed)
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))

  it.scoped("tokens obtained at or after the instant are returned without a request (t-1, t)", () =>
    Effect.gen(function*() {
      const signedIn = yield* longLived
      const manager = yield* TokenManager.make()
      yield* TestClock.adjust(Duration.days(8))
      const atObtained = yield* manager.refreshIfObtainedBefore(DateTime.unsafeMake(0))
      assert.isTrue(TokenSet.hasAccessToken(atObtained, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 0)
      // One millisecond later than the tokens' own time: now they are older than asked.
      const after = yield* manager.refreshIfObtainedBefore(DateTime.unsafeMake(1))
      assert.isFalse(TokenSet.hasAccessToken(after, signedIn.accessToken))
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))

  it.scoped("adopts tokens another process refreshed since, without a request", () =>
    Effect.gen(function*() {
      yield* longLived
      const manager = yield* TokenManager.make()
      yield* manager.get // cached here: the old generation
      yield* TestClock.adjust(Duration.days(8))
      // Another process refreshed and stored a new generation.
      const sibling = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens({ accessTokenLifetime: Duration.days(30) })
      yield* (yield* TokenStore.TokenStore).set("default", sibling)
      const got = yield* manager.refreshIfObtainedBefore(yield* cutoffAgo(7))
      assert.isTrue(TokenSet.hasAccessToken(got, sibling.accessToken))
      assert.lengthOf(yield* refreshRequests, 0)
    }).pipe(Effect.provide(harness())))

  it.scoped("many concurrent callers, and a `get` joining: one refresh, all get its tokens", () =>
    Effect.gen(function*() {
      yield* longLived
      const manager = yield* TokenManager.make()
      yield* TestClock.adjust(Duration.days(8))
      const cutoff = yield* cutoffAgo(7)
      const results = yield* Effect.all(
        [...Array.from({ length: 50 }, () => manager.refreshIfObtainedBefore(cutoff)), manager.get],
        { concurrency: "unbounded" }
      )
      assert.lengthOf(yield* refreshRequests, 1)
      assert.strictEqual(new Set(results.slice(0, 50).map((r) => Redacted.value(r.accessToken))).size, 1)
    }).pipe(Effect.provide(harness())))

  it.scoped("due tokens are refreshed even when obtained after the instant", () =>
    Effect.gen(function*() {
      yield* signIn() // an access token of one hour
      const manager = yield* TokenManager.make()
      yield* TestClock.adjust(Duration.hours(2))
      const got = yield* manager.refreshIfObtainedBefore(DateTime.unsafeMake(0))
      assert.isTrue(DateTime.toEpochMillis(got.expiresAt) > 2 * 3_600_000)
      const requests = yield* refreshRequests
      assert.lengthOf(requests, 1)
      assert.strictEqual(fieldOf(requests[0]!, "refresh_reason"), "scheduled")
    }).pipe(Effect.provide(harness())))

  it.scoped("a dead sign-in fails with ReauthRequired after one request, and is not asked again", () =>
    Effect.gen(function*() {
      const signedIn = yield* longLived
      const server = yield* FakeOAuthServer.FakeOAuthServer
      // Someone else spends the refresh token.
      yield* Effect.promise(() =>
        fetch(`${server.url}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: server.clientId, grant_type: "refresh_token", refresh_token: Redacted.value(Option.getOrThrow(signedIn.refreshToken)) })
        }).then((r) => r.text())
      )
      yield* server.clearRequests
      const manager = yield* TokenManager.make()
      yield* TestClock.adjust(Duration.days(8))
      const cutoff = yield* cutoffAgo(7)
      const error = yield* Effect.flip(manager.refreshIfObtainedBefore(cutoff))
      assert.strictEqual(error._tag, "ReauthRequired")
      assert.strictEqual(error._tag === "ReauthRequired" ? error.reason : "", "RefreshTokenReused")
      yield* Effect.flip(manager.refreshIfObtainedBefore(cutoff))
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(harness())))
})
