/**
 * The rate-limit models' forms: the stored snapshot, the JSON document, the
 * headers the proxy passes on, and what counts as near the limit.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Option, Schema } from "effect"
import * as RateLimits from "../src/RateLimits.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"

const at = (ms: number) => DateTime.unsafeMake(ms)

const limits: RateLimits.RateLimits = {
  primary: { usedPercent: 12.5, windowMinutes: 300, resetsAt: at(1_800_003_600_000) },
  secondary: { usedPercent: 40, windowMinutes: 10080, resetsAt: at(1_800_086_400_000) },
  credits: { hasCredits: true, unlimited: false, balance: "5.39" },
  planType: "plus",
  activeLimit: "codex",
  limitName: "Codex",
  others: [{ id: "codex_other", name: "GPT-5.3-Codex-Spark", primary: { usedPercent: 91, windowMinutes: 300 } }]
}

describe("RateLimits", () => {
  it("toHeaders says what rateLimitsOf reads back, other families included", () => {
    const headers = RateLimits.toHeaders(limits)
    assert.strictEqual(headers["x-codex-primary-reset-at"], "1800003600")
    assert.strictEqual(headers["x-codex-other-primary-used-percent"], "91")
    assert.strictEqual(headers["x-codex-other-limit-name"], "GPT-5.3-Codex-Spark")
    assert.deepStrictEqual(SubscriptionLLM.rateLimitsOf(headers as any, 0), limits)
  })

  it("toHeaders leaves out text that cannot travel in a header, and family ids that cannot be a header name", () => {
    const headers = RateLimits.toHeaders({
      planType: "plus\r\nset-cookie: x=1",
      credits: { hasCredits: true, unlimited: false, balance: "5,39 €" },
      others: [{ id: "bad id", primary: { usedPercent: 1 } }, { id: "codex", primary: { usedPercent: 2 } }]
    })
    assert.deepStrictEqual(headers, { "x-codex-credits-has-credits": "true", "x-codex-credits-unlimited": "false" })
  })

  it("a snapshot is stored as JSON and read back the same", () =>
    Effect.gen(function*() {
      const snapshot: RateLimits.Snapshot = { limits, seenAt: at(1_800_000_000_000), source: "headers" }
      const text = JSON.stringify(yield* Schema.encode(RateLimits.Snapshot)(snapshot))
      assert.include(text, "\"seenAt\":\"2027-01-15T08:00:00.000Z\"")
      assert.deepStrictEqual(yield* Schema.decodeUnknown(Schema.parseJson(RateLimits.Snapshot))(text), snapshot)
      assert.isTrue(Option.isNone(Schema.decodeUnknownOption(Schema.parseJson(RateLimits.Snapshot))("{\"limits\":{}}")))
    }))

  it("toJson: every key there, null for what is unknown, resets counted from now", () => {
    const doc = RateLimits.toJson(limits, at(1_800_000_000_000))
    assert.deepStrictEqual(Object.keys(doc), ["plan", "limitReached", "primary", "secondary", "credits", "codeReview", "others"])
    assert.deepStrictEqual(doc.primary, {
      usedPercent: 12.5,
      windowMinutes: 300,
      resetsAt: "2027-01-15T09:00:00.000Z",
      resetsInSeconds: 3600
    })
    assert.deepStrictEqual(doc.others, [{
      id: "codex_other",
      name: "GPT-5.3-Codex-Spark",
      primary: { usedPercent: 91, windowMinutes: 300, resetsAt: null, resetsInSeconds: null },
      secondary: null
    }])
    assert.deepStrictEqual(RateLimits.toJson({}, at(0)), {
      plan: null,
      limitReached: null,
      primary: null,
      secondary: null,
      credits: null,
      codeReview: null,
      others: []
    })
  })

  it("near the limit means above 90 %, in any family", () => {
    assert.deepStrictEqual(RateLimits.nearLimit(limits).map((w) => [w.family, w.which]), [["codex_other", "primary"]])
    assert.lengthOf(RateLimits.nearLimit({ primary: { usedPercent: 90 } }), 0)
    assert.lengthOf(RateLimits.nearLimit({ primary: { usedPercent: 90.5 } }), 1)
  })
})
