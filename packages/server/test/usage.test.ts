/**
 * The subscription's limits through the proxy on 127.0.0.1: `GET /v1/usage`
 * live from the fake backend's usage endpoint, and the latest limits as
 * rate-limit headers on every authenticated answer (read with the official
 * `openai` client's raw responses and with fetch).
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Effect, Redacted } from "effect"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, call, client, fetchProxy, KEY, layer } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

const usage = {
  primary: { usedPercent: 93, windowMinutes: 300, resetsInSeconds: 600 },
  secondary: { usedPercent: 41, windowMinutes: 10080, resetsInSeconds: 300_000 },
  plan: "pro",
  credits: { hasCredits: true, unlimited: false, balance: "5.39" },
  others: [{ id: "codex_other", name: "Spark", primary: { usedPercent: 7, windowMinutes: 300 } }]
} satisfies FakeCodexBackend.FakeUsage

describe("the subscription's limits through the proxy", () => {
  it.live("GET /v1/usage: the usage endpoint's windows, credits, plan and other families, as one JSON document", () =>
    Effect.gen(function*() {
      yield* (yield* backend).setUsage(usage)
      const response = yield* fetchProxy("/v1/usage", { headers: authorized })
      assert.strictEqual(response.status, 200)
      const doc = yield* Effect.promise(() => response.json() as Promise<any>)
      assert.deepStrictEqual(Object.keys(doc), ["fetchedAt", "plan", "limitReached", "primary", "secondary", "credits", "codeReview", "others"])
      assert.strictEqual(doc.plan, "pro")
      assert.strictEqual(doc.limitReached, false)
      assert.strictEqual(doc.primary.usedPercent, 93)
      assert.strictEqual(doc.primary.windowMinutes, 300)
      assert.isTrue(doc.primary.resetsInSeconds > 590 && doc.primary.resetsInSeconds <= 600, String(doc.primary.resetsInSeconds))
      assert.strictEqual(doc.secondary.windowMinutes, 10080)
      assert.deepStrictEqual(doc.credits, { hasCredits: true, unlimited: false, balance: "5.39" })
      assert.deepStrictEqual(doc.others.map((o: any) => [o.id, o.name, o.primary.usedPercent]), [["codex_other", "Spark", 7]])
      // Nothing was spent on a model request.
      assert.lengthOf((yield* (yield* backend).requests).filter((r) => r.endpoint === "responses"), 0)
      // And the answer carries what the endpoint said.
      assert.strictEqual(response.headers.get("x-codex-primary-used-percent"), "93")
    }).pipe(Effect.provide(layer())))

  it.live("GET /v1/usage when the usage endpoint fails: OpenAI's error format, 502, with the last limits seen in the headers", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      const openai = yield* client()
      yield* call(() => openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] }))
      yield* fake.inject({ endpoint: "usage", fault: FakeHttp.status(500), calls: "all" })
      const response = yield* fetchProxy("/v1/usage", { headers: authorized })
      assert.strictEqual(response.status, 502)
      const body = yield* Effect.promise(() => response.json() as Promise<any>)
      assert.strictEqual(body.error.code, "backend_unavailable")
      assert.strictEqual(response.headers.get("x-codex-primary-used-percent"), "12.5")
    }).pipe(Effect.provide(layer({}, { client: { retry: { attempts: 2, baseDelay: "1 millis" } } }))))

  it.live("every authenticated answer carries the latest limits as the backend's headers, streamed or not; unauthenticated ones none", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      const openai = yield* client()
      // Before the backend has said anything, there is nothing to pass on.
      const first = yield* fetchProxy("/v1/models", { headers: authorized })
      assert.isNull(first.headers.get("x-codex-primary-used-percent"))

      yield* fake.setUsage(usage)
      const { response } = yield* call(() =>
        openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] }).withResponse()
      )
      assert.strictEqual(response.headers.get("x-codex-primary-used-percent"), "93")
      assert.strictEqual(response.headers.get("x-codex-primary-window-minutes"), "300")
      assert.match(response.headers.get("x-codex-primary-reset-at") ?? "", /^\d{10}$/)
      assert.strictEqual(response.headers.get("x-codex-secondary-used-percent"), "41")
      assert.strictEqual(response.headers.get("x-codex-credits-has-credits"), "true")
      assert.strictEqual(response.headers.get("x-codex-credits-balance"), "5.39")
      assert.strictEqual(response.headers.get("x-codex-plan-type"), "pro")
      assert.strictEqual(response.headers.get("x-codex-other-primary-used-percent"), "7")
      assert.strictEqual(response.headers.get("x-codex-other-limit-name"), "Spark")
      assert.match(response.headers.get(OpenAIProxy.RATE_LIMITS_SEEN_AT_HEADER) ?? "", /^\d{4}-\d\d-\d\dT/)

      // A streamed answer has this turn's limits in its headers already.
      yield* fake.setUsage({ primary: { usedPercent: 50, windowMinutes: 300 } })
      const streamed = yield* call(() =>
        openai.responses.create({ model: "gpt-5.5", input: "hi", stream: true }).withResponse()
      )
      assert.strictEqual(streamed.response.headers.get("x-codex-primary-used-percent"), "50")
      assert.isNull(streamed.response.headers.get("x-codex-secondary-used-percent"))
      yield* call(async () => {
        for await (const _ of streamed.data) { /* drain */ }
      })

      // Errors of an authenticated request carry them too; a request without the key learns nothing.
      const missing = yield* fetchProxy("/v1/nowhere", { headers: authorized })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.headers.get("x-codex-primary-used-percent"), "50")
      for (const headers of [{}, { authorization: "Bearer wrong" }]) {
        const refused = yield* fetchProxy("/v1/usage", { headers })
        assert.strictEqual(refused.status, 401)
        assert.isNull(refused.headers.get("x-codex-primary-used-percent"))
        assert.isNull(refused.headers.get(OpenAIProxy.RATE_LIMITS_SEEN_AT_HEADER))
      }
      assert.lengthOf((yield* fake.requests).filter((r) => r.endpoint === "usage"), 0)
    }).pipe(Effect.provide(layer())))

  it.live("with CORS, a browser page may read the rate-limit headers", () =>
    Effect.gen(function*() {
      const response = yield* fetchProxy("/v1/models", { headers: { ...authorized, origin: "https://app.example" } })
      const exposed = (response.headers.get("access-control-expose-headers") ?? "").split(/,\s*/)
      for (const name of ["x-codex-primary-used-percent", "x-codex-secondary-reset-at", OpenAIProxy.RATE_LIMITS_SEEN_AT_HEADER]) {
        assert.include(exposed, name)
      }
      assert.notInclude(JSON.stringify([...response.headers]), Redacted.value(KEY))
    }).pipe(Effect.provide(layer({ cors: ["https://app.example"] }))))
})
