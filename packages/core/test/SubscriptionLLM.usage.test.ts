/**
 * `SubscriptionLLM.usage` and the latest rate-limit snapshot, against the fake
 * Codex backend and the fake issuer over 127.0.0.1.
 */
import { assert, layer } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { DateTime, Effect, Option, Redacted } from "effect"
import type * as RateLimits from "../src/RateLimits.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import { backendHarness, backendRequests, headerOf, sharedIssuer } from "./subscription-support.js"
import { fieldOf, refreshRequests, signIn } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

layer(sharedIssuer, { excludeTestServices: true })("SubscriptionLLM.usage over loopback", (it) => {
  it.effect("reads the windows, credits, plan and other families without a model request, with the turn's headers", () =>
    Effect.gen(function*() {
      const tokens = yield* signIn()
      yield* (yield* backend).setUsage({
        primary: { usedPercent: 12, windowMinutes: 300, resetsInSeconds: 7800 },
        secondary: { usedPercent: 41, windowMinutes: 10080, resetsInSeconds: 300_000 },
        plan: "plus",
        credits: { hasCredits: true, unlimited: false, balance: "5.39" },
        others: [{ id: "codex_other", name: "Spark", primary: { usedPercent: 95, windowMinutes: 300 } }]
      })
      const before = yield* DateTime.now
      const report = yield* SubscriptionLLM.usage
      assert.strictEqual(report.planType, "plus")
      assert.deepStrictEqual(
        { used: report.primary?.usedPercent, minutes: report.primary?.windowMinutes },
        { used: 12, minutes: 300 }
      )
      assert.strictEqual(report.secondary?.windowMinutes, 10080)
      const resetsIn = DateTime.toEpochMillis(report.primary!.resetsAt!) - DateTime.toEpochMillis(before)
      assert.isTrue(resetsIn > 7_700_000 && resetsIn <= 7_801_000, String(resetsIn))
      assert.deepStrictEqual(report.credits, { hasCredits: true, unlimited: false, balance: "5.39" })
      assert.deepStrictEqual(report.others, [{ id: "codex_other", name: "Spark", primary: { usedPercent: 95, windowMinutes: 300 } }])
      assert.strictEqual(report.limitReached, false)

      assert.lengthOf(yield* backendRequests("responses"), 0)
      const [request] = yield* backendRequests("usage")
      assert.strictEqual(request!.method, "GET")
      assert.strictEqual(request!.path, "/backend-api/wham/usage")
      assert.strictEqual(headerOf(request!, "authorization"), `Bearer ${Redacted.value(tokens.accessToken)}`)
      assert.strictEqual(headerOf(request!, "chatgpt-account-id"), Option.getOrThrow(tokens.accountId))
      assert.strictEqual(headerOf(request!, "originator"), SubscriptionLLM.DEFAULT_ORIGINATOR)
      assert.strictEqual(headerOf(request!, "user-agent"), SubscriptionLLM.USER_AGENT)
      assert.strictEqual(headerOf(request!, "accept"), "application/json")

      // What the endpoint said is the latest snapshot too.
      const last = Option.getOrThrow(yield* SubscriptionLLM.lastRateLimits)
      assert.strictEqual(last.source, "usage")
      assert.strictEqual(last.limits.primary?.usedPercent, 12)
      assert.isUndefined((last.limits as { fetchedAt?: unknown }).fetchedAt)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a 401 for a token that was valid a moment ago: one recovery, as for a turn", () =>
    Effect.gen(function*() {
      const tokens = yield* signIn()
      yield* (yield* backend).rejectAccessToken(Redacted.value(tokens.accessToken))
      const report = yield* SubscriptionLLM.usage
      assert.strictEqual(report.primary?.usedPercent, 12.5)
      const bearer = (yield* backendRequests("usage")).map((r) => headerOf(r, "authorization"))
      assert.lengthOf(bearer, 2)
      assert.notStrictEqual(bearer[0], bearer[1])
      const refreshes = yield* refreshRequests
      assert.strictEqual(refreshes.length, 1)
      assert.strictEqual(fieldOf(refreshes[0]!, "refresh_reason"), "unauthorized_recovery")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a body that is not a usage report, a 5xx, a body too slow: typed errors without the token", () =>
    Effect.gen(function*() {
      const tokens = yield* signIn()
      const fake = yield* backend
      yield* fake.inject({ endpoint: "usage", fault: FakeHttp.malformedJson(200), calls: [1] })
      const malformed = yield* Effect.flip(SubscriptionLLM.usage)
      assert.strictEqual(malformed._tag === "ResponseError" && malformed.reason, "InvalidResponse")
      assert.include(malformed.message, "not JSON")
      yield* fake.inject({ endpoint: "usage", fault: FakeHttp.status(200, ["not", "a", "report"]), calls: [1] })
      const array = yield* Effect.flip(SubscriptionLLM.usage)
      assert.include(array.message, "not a usage report")
      yield* fake.inject({ endpoint: "usage", fault: FakeHttp.status(500), calls: "all" })
      const down = yield* Effect.flip(SubscriptionLLM.usage)
      assert.strictEqual(down._tag, "TransportError")
      for (const error of [malformed, array, down]) {
        assert.notInclude(`${error.message} ${JSON.stringify(error)}`, Redacted.value(tokens.accessToken))
      }
    }).pipe(Effect.provide(backendHarness())))

  it.effect("the latest snapshot is the last answer's headers, with when; onRateLimits hears of each", () =>
    Effect.gen(function*() {
      yield* signIn()
      const heard: Array<RateLimits.Snapshot> = []
      const llm = yield* SubscriptionLLM.make({
        ...(yield* backend).clientOptions,
        retry: { baseDelay: "2 millis" },
        onRateLimits: (snapshot) => Effect.sync(() => void heard.push(snapshot))
      })
      assert.isTrue(Option.isNone(yield* llm.lastRateLimits), "none before the first answer")
      yield* llm.generate({ input: [SubscriptionLLM.userMessage("one")] })
      const first = Option.getOrThrow(yield* llm.lastRateLimits)
      assert.strictEqual(first.source, "headers")
      assert.strictEqual(first.limits.primary?.usedPercent, 12.5)
      yield* (yield* backend).setUsage({ primary: { usedPercent: 95, windowMinutes: 300 }, others: [{ id: "codex_other", primary: { usedPercent: 3 } }] })
      yield* llm.generate({ input: [SubscriptionLLM.userMessage("two")] })
      const second = Option.getOrThrow(yield* llm.lastRateLimits)
      assert.deepStrictEqual(second.limits, {
        primary: { usedPercent: 95, windowMinutes: 300 },
        others: [{ id: "codex_other", primary: { usedPercent: 3 } }]
      })
      assert.isTrue(DateTime.greaterThanOrEqualTo(second.seenAt, first.seenAt))
      assert.deepStrictEqual(heard.map((s) => s.limits.primary?.usedPercent), [12.5, 95])
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a usage-limit answer updates the snapshot too; a failing onRateLimits never fails the turn", () =>
    Effect.gen(function*() {
      yield* signIn()
      const fake = yield* backend
      const llm = yield* SubscriptionLLM.make({
        ...fake.clientOptions,
        onRateLimits: () => Effect.fail("the disk is full")
      })
      assert.strictEqual((yield* llm.generate({ input: [SubscriptionLLM.userMessage("ok")] })).text, "hi from the fake backend")
      yield* fake.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1795346996, resetsInSeconds: 600 }) })
      const error = yield* Effect.flip(llm.generate({ input: [SubscriptionLLM.userMessage("limit")] }))
      assert.strictEqual(error._tag, "UsageLimitReached")
      assert.strictEqual(Option.getOrThrow(yield* llm.lastRateLimits).limits.primary?.usedPercent, 100)
    }).pipe(Effect.provide(backendHarness())))
})
