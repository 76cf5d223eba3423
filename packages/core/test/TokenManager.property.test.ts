/**
 * Property: under any number of concurrent callers, any token lifetime and any
 * call times across several expiries (TestClock, fake issuer over loopback),
 * (a) no caller gets a token that expires within the leeway,
 * (b) exactly one refresh request is made per expiry that callers reach,
 * (c) the issuer never sees a refresh token twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Clock, DateTime, Duration, Effect, Option, Redacted, Runtime, TestClock } from "effect"
import * as fc from "fast-check"
import * as TokenManager from "../src/TokenManager.js"
import type * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { fieldOf, harness, refreshRequests } from "./support.js"

type When = { readonly kind: "advance"; readonly ms: number } | { readonly kind: "boundary"; readonly delta: -1 | 0 | 1 }

interface Scenario {
  readonly leewayMs: number
  readonly lifetimeS: number
  readonly steps: ReadonlyArray<{ readonly when: When; readonly callers: number }>
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({ leewayMs: fc.constantFrom(60_000, 300_000), extraS: fc.integer({ min: 2, max: 4 * 3600 }) })
  .chain(({ leewayMs, extraS }) => {
    const lifetimeS = leewayMs / 1000 + extraS
    const when: fc.Arbitrary<When> = fc.oneof(
      fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 2 * lifetimeS * 1000 }) }),
      fc.record({ kind: fc.constant("boundary" as const), delta: fc.constantFrom(-1 as const, 0 as const, 1 as const) })
    )
    return fc.record({
      leewayMs: fc.constant(leewayMs),
      lifetimeS: fc.constant(lifetimeS),
      steps: fc.array(fc.record({ when, callers: fc.integer({ min: 1, max: 60 }) }), { minLength: 1, maxLength: 14 })
    })
  })

const millis = (d: DateTime.Utc) => DateTime.toEpochMillis(d)

const run = (s: Scenario) =>
  Effect.gen(function*() {
    const server = yield* FakeOAuthServer.FakeOAuthServer
    yield* server.clearRequests
    yield* server.configure({ accessTokenLifetime: Duration.seconds(s.lifetimeS) })
    const store = yield* TokenStore.makeMemory
    let current: TokenSet.TokenSet = yield* server.issueTokens()
    yield* store.set("default", current)
    const manager = yield* TokenManager.make({ leeway: Duration.millis(s.leewayMs) }).pipe(
      Effect.provideService(TokenStore.TokenStore, store)
    )
    let expected = 0
    for (const step of s.steps) {
      const refreshAt = millis(current.expiresAt) - s.leewayMs
      if (step.when.kind === "advance") {
        yield* TestClock.adjust(Duration.millis(step.when.ms))
      } else if (refreshAt + step.when.delta > (yield* Clock.currentTimeMillis)) {
        yield* TestClock.setTime(refreshAt + step.when.delta)
      }
      const now = yield* Clock.currentTimeMillis
      if (now >= refreshAt) expected += 1
      const results = yield* Effect.all(Array.from({ length: step.callers }, () => manager.get), {
        concurrency: "unbounded"
      })
      for (const r of results) {
        // (a)
        assert.isTrue(millis(r.expiresAt) - now > s.leewayMs, `token expires within the leeway at ${now}`)
        assert.strictEqual(Redacted.value(r.accessToken), Redacted.value(results[0]!.accessToken))
      }
      // (b)
      assert.strictEqual((yield* refreshRequests).length, expected, `refreshes after the step at ${now}`)
      current = results[0]!
    }
    // (c)
    const sent = (yield* refreshRequests).map((r) => fieldOf(r, "refresh_token"))
    assert.strictEqual(new Set(sent).size, sent.length)
    const stored = Option.getOrThrow(yield* store.get("default"))
    assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(current.accessToken))
  }).pipe(Effect.scoped)

describe("TokenManager properties", () => {
  it.effect("(a) no token within the leeway, (b) one refresh per expiry, (c) no refresh token sent twice", () =>
    Effect.gen(function*() {
      const runtime = yield* Effect.runtime<FakeOAuthServer.FakeOAuthServer | Effect.Effect.Context<ReturnType<typeof run>>>()
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(scenario, (s) => Runtime.runPromise(runtime)(run(s))), { numRuns: 120 })
      )
    }).pipe(Effect.provide(harness())), 120_000)
})
