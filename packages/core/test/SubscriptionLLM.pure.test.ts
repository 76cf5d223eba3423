/**
 * The parts of SubscriptionLLM that need no server: SSE framing, event
 * decoding on the captured streams, request building, error classification,
 * rate-limit headers, base URL checks.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, DateTime, Duration, Effect, Either, Exit, Layer, Stream } from "effect"
import * as fc from "fast-check"
import { readFileSync } from "node:fs"
import { SseDecoder, type SseEvent } from "../src/internal/sse.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import * as TokenManager from "../src/TokenManager.js"
import { codexFixture } from "./fixtures.js"

const fixtureText = (name: string) => readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8")

const framesOf = (chunks: ReadonlyArray<string>): Array<SseEvent> => {
  const decoder = new SseDecoder()
  const out: Array<SseEvent> = []
  for (const chunk of chunks) decoder.push(chunk, out)
  decoder.end(out)
  return out
}

const bytes = (text: string, cuts: ReadonlyArray<number> = []) => {
  const all = new TextEncoder().encode(text)
  const points = [0, ...[...cuts].sort((a, b) => a - b).map((c) => Math.min(c, all.length)), all.length]
  return Stream.fromIterable(points.slice(1).map((end, i) => all.slice(points[i], end)))
}

const events = (text: string, cuts: ReadonlyArray<number> = []) =>
  Effect.either(Stream.runCollect(SubscriptionLLM.decodeEvents(bytes(text, cuts)))).pipe(
    Effect.map(Either.map(Chunk.toArray))
  )

describe("SSE framing", () => {
  it("dispatches on blank lines; joins data lines; skips comments, id and retry; takes event names", () => {
    const out = framesOf([": comment\nevent: a\ndata: one\ndata:two\nid: 7\nretry: 10\n\ndata: {\"x\":1}\n\n"])
    assert.deepStrictEqual(out, [{ event: "a", data: "one\ntwo" }, { event: "message", data: "{\"x\":1}" }])
  })

  it("accepts \\n, \\r\\n and \\r line ends, split anywhere", () => {
    const text = "event: e\r\ndata: crlf\r\n\r\ndata: cr\r\rdata: lf\n\n"
    const expected = [{ event: "e", data: "crlf" }, { event: "message", data: "cr" }, { event: "message", data: "lf" }]
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        assert.deepStrictEqual(framesOf([text.slice(0, i), text.slice(i, j), text.slice(j)]), expected, `cut at ${i}, ${j}`)
      }
    }
  })

  it("at the end: an event missing only its blank line is dispatched; an unterminated line is dropped", () => {
    assert.deepStrictEqual(framesOf(["data: whole\n"]), [{ event: "message", data: "whole" }])
    assert.deepStrictEqual(framesOf(["data: whole\n\ndata: {\"cut"]), [{ event: "message", data: "whole" }])
  })

  it("property: any chunking of the full captured stream gives the same events", () => {
    const text = fixtureText("sse-full-sse.txt")
    const whole = framesOf([text])
    assert.strictEqual(whole.length, 10)
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 30 }), (cuts) => {
        const sorted = [...cuts].sort((a, b) => a - b)
        const chunks = [0, ...sorted].map((start, i) => text.slice(start, sorted[i] ?? text.length))
        assert.deepStrictEqual(framesOf(chunks), whole)
      })
    )
  })
})

describe("decodeEvents", () => {
  it.effect("the captured full stream: created, two deltas, the message, completed with usage", () =>
    Effect.gen(function*() {
      const out = yield* Effect.map(events(fixtureText("sse-full-sse.txt"), [100, 733, 1500]), Either.getOrThrow)
      assert.deepStrictEqual(out.map((e) => e._tag), ["Created", "TextDelta", "TextDelta", "ItemDone", "Completed"])
      assert.deepStrictEqual(out.flatMap((e) => (e._tag === "TextDelta" ? [e.delta] : [])), ["hi from the ", "fake backend"])
      const last = out[4]!
      assert.deepStrictEqual(last._tag === "Completed" ? last.usage : undefined, {
        inputTokens: 42,
        cachedInputTokens: 0,
        outputTokens: 7,
        reasoningTokens: 0,
        totalTokens: 49
      })
    }))

  it.effect("the minimal stream the Codex CLI accepts: one item, a completed without usage", () =>
    Effect.gen(function*() {
      const result = yield* SubscriptionLLM.collect(SubscriptionLLM.decodeEvents(bytes(fixtureText("sse-minimal-working-sse.txt"))))
      assert.strictEqual(result.text, "hi from the fake backend")
      assert.strictEqual(result.responseId, "resp_fake_1f9b92aff8bf")
      assert.isUndefined(result.usage)
    }))

  it.effect("a body that ends before response.completed is StreamClosed, wherever it is cut", () =>
    Effect.gen(function*() {
      const text = fixtureText("sse-full-sse.txt")
      const cutAt = text.indexOf("event: response.completed")
      for (const end of [0, 50, cutAt, text.length - 20]) {
        const out = yield* events(text.slice(0, end))
        assert.isTrue(Either.isLeft(out) && out.left._tag === "ResponseError" && out.left.reason === "StreamClosed", `cut at ${end}`)
      }
    }))

  it.effect("events after response.completed are not read; unknown types and non-JSON data are skipped", () =>
    Effect.gen(function*() {
      const text = "data: not json\n\ndata: {\"type\":\"response.something_new\"}\n\n" +
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\"}}\n\n" +
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"late\"}\n\n"
      const out = yield* Effect.map(events(text), Either.getOrThrow)
      assert.deepStrictEqual(out.map((e) => e._tag), ["Completed"])
    }))

  it.effect("response.incomplete ends the turn as an answer with its reason and usage; what follows is not read", () =>
    Effect.gen(function*() {
      const text = "data: {\"type\":\"response.output_text.delta\",\"delta\":\"half\"}\n\n" +
        "data: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r2\",\"status\":\"incomplete\"," +
        "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":5}}}\n\n" +
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"late\"}\n\n"
      const out = yield* Effect.map(events(text), Either.getOrThrow)
      assert.deepStrictEqual(out.map((e) => e._tag), ["TextDelta", "Incomplete"])
      const last = out[1]!
      assert.deepStrictEqual(last._tag === "Incomplete" ? [last.responseId, last.reason, last.usage?.totalTokens] : [], ["r2", "max_output_tokens", 8])
      const bare = yield* Effect.map(events("data: {\"type\":\"response.incomplete\",\"response\":{}}\n\n"), Either.getOrThrow)
      assert.deepStrictEqual(bare, [SubscriptionLLM.Event.Incomplete({ responseId: "", usage: undefined, reason: undefined })])
    }))

  it.effect("a malformed known event is InvalidResponse; deltas before a failure are still delivered first", () =>
    Effect.gen(function*() {
      const bad = yield* events("data: {\"type\":\"response.output_text.delta\"}\n\n")
      assert.isTrue(Either.isLeft(bad) && bad.left._tag === "ResponseError" && bad.left.reason === "InvalidResponse")
      const seen: Array<string> = []
      const failed = yield* SubscriptionLLM.decodeEvents(bytes(
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"a\"}\n\n" +
          "data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached. Please try again in 1.5s.\"}}}\n\n"
      )).pipe(Stream.runForEach((e) => Effect.sync(() => seen.push(e._tag))), Effect.flip)
      assert.deepStrictEqual(seen, ["TextDelta"])
      assert.strictEqual(failed._tag === "ResponseError" && failed.reason, "RateLimited")
      assert.isTrue(failed._tag === "ResponseError" && Duration.equals(failed.retryAfter!, Duration.millis(1500)))
    }))

  it.effect("a function call item also gives a ToolCall", () =>
    Effect.gen(function*() {
      const text = "data: " + JSON.stringify({
        type: "response.output_item.done",
        item: { id: "fc_1", type: "function_call", call_id: "call_1", name: "f", arguments: "{\"a\":1}", namespace: "x" }
      }) + "\n\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\"}}\n\n"
      const result = yield* SubscriptionLLM.collect(SubscriptionLLM.decodeEvents(bytes(text)))
      assert.deepStrictEqual(result.toolCalls, [{ callId: "call_1", name: "f", arguments: "{\"a\":1}" }])
      assert.strictEqual(result.items[0]!.namespace, "x", "fields this module does not model are kept")
    }))
})

describe("buildBody", () => {
  const defaults = { model: "gpt-5.5", reasoning: { effort: "medium" as const }, conversationId: "conv-1" }

  it("strips item ids, drops item references and reasoning without encrypted content, prepends system prompts", () => {
    const { body, droppedItems } = SubscriptionLLM.buildBody({
      system: ["be brief", "be kind"],
      input: [
        { ...SubscriptionLLM.userMessage("hi"), id: "msg_1" },
        { type: "item_reference", id: "msg_0" },
        { type: "reasoning", id: "rs_1", summary: [] },
        { type: "reasoning", id: "rs_2", summary: [], encrypted_content: "enc" }
      ]
    }, defaults)
    assert.deepStrictEqual(body.input, [
      SubscriptionLLM.developerMessage("be brief"),
      SubscriptionLLM.developerMessage("be kind"),
      SubscriptionLLM.userMessage("hi"),
      { type: "reasoning", summary: [], encrypted_content: "enc" }
    ])
    assert.deepStrictEqual(droppedItems, ["item_reference", "reasoning without encrypted_content"])
  })

  it("reasoning on: include encrypted content; off (null): reasoning null and include empty", () => {
    const on = SubscriptionLLM.buildBody({ input: [] }, defaults).body
    assert.deepStrictEqual([on.reasoning, on.include], [{ effort: "medium" }, ["reasoning.encrypted_content"]])
    const off = SubscriptionLLM.buildBody({ input: [], reasoning: null }, defaults).body
    assert.deepStrictEqual([off.reasoning, off.include], [null, []])
  })

  it("names every unsupported parameter given, and none is in the body", () => {
    const { body, dropped } = SubscriptionLLM.buildBody({
      input: [],
      temperature: 0,
      topP: 1,
      maxOutputTokens: 1,
      maxCompletionTokens: 1,
      presencePenalty: 0,
      frequencyPenalty: 0,
      seed: 1,
      topLogprobs: 1
    }, defaults)
    assert.deepStrictEqual([...dropped].sort(), Object.values(SubscriptionLLM.UNSUPPORTED_PARAMETERS).sort())
    for (const name of [...dropped, ...Object.keys(SubscriptionLLM.UNSUPPORTED_PARAMETERS)]) assert.notProperty(body, name)
  })

  it("instructions and service tier only when given; the conversation id is the prompt cache key", () => {
    const plain = SubscriptionLLM.buildBody({ input: [] }, defaults).body
    assert.notProperty(plain, "instructions")
    assert.notProperty(plain, "service_tier")
    assert.strictEqual(plain.prompt_cache_key, "conv-1")
    const full = SubscriptionLLM.buildBody({ input: [], instructions: "base", serviceTier: "priority", conversationId: "c2" }, defaults).body
    assert.deepStrictEqual(Object.keys(full).slice(0, 3), ["model", "instructions", "stream"])
    assert.strictEqual(full.service_tier, "priority")
    assert.strictEqual(full.prompt_cache_key, "c2")
  })
})

describe("classifyAnswer", () => {
  const fixture = codexFixture<{ response: { status: number; body: unknown } }>("backend-usage-limit-429.json")
  const answer = (status: number, json: unknown) => ({ status, json, text: JSON.stringify(json) })

  it("the captured 429 is UsageLimitReached with plan, reset instant and seconds; the message names the reset time", () => {
    const error = SubscriptionLLM.classifyAnswer("responses", answer(fixture.response.status, fixture.response.body), 0)
    assert.instanceOf(error, SubscriptionLLM.UsageLimitReached)
    if (!(error instanceof SubscriptionLLM.UsageLimitReached)) return
    assert.strictEqual(error.planType, "plus")
    assert.strictEqual(DateTime.toEpochMillis(error.resetsAt!), 1795346996_000)
    assert.strictEqual(error.resetsInSeconds, 3600)
    assert.include(error.message, "2026-11-22T11:29:56.000Z")
    assert.include(error.message, "1h")
  })

  it("resets_in_seconds missing: computed from resets_at and the clock", () => {
    const error = SubscriptionLLM.classifyAnswer(
      "responses",
      answer(429, { error: { type: "usage_limit_reached", resets_at: 1000 } }),
      400_000
    )
    assert.strictEqual(error instanceof SubscriptionLLM.UsageLimitReached && error.resetsInSeconds, 600)
  })

  it("maps statuses: 401 recover, 5xx and 408 transient, overloaded typed, 400/404 invalid request with the detail", () => {
    const tag = (e: ReturnType<typeof SubscriptionLLM.classifyAnswer>) =>
      typeof e === "string" ? e : e._tag === "TransportError" ? `Transport:${e.reason}` : `${e._tag}:${e.reason}`
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(401, {}), 0)), "Unauthorized")
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(502, {}), 0)), "Transport:ServerError")
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(408, {}), 0)), "Transport:Timeout")
    assert.strictEqual(
      tag(SubscriptionLLM.classifyAnswer("r", answer(503, { error: { code: "slow_down" } }), 0)),
      "ResponseError:Overloaded"
    )
    assert.strictEqual(
      tag(SubscriptionLLM.classifyAnswer("r", answer(429, { error: { type: "usage_not_included" } }), 0)),
      "UsageLimitReached:UsageNotIncluded"
    )
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(429, { error: { message: "slow" } }), 0)), "ResponseError:RateLimited")
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(403, "<html>"), 0)), "ResponseError:Forbidden")
    const invalid = SubscriptionLLM.classifyAnswer("r", answer(400, { detail: "Unsupported parameter: temperature" }), 0)
    assert.strictEqual(tag(invalid), "ResponseError:InvalidRequest")
    assert.include(typeof invalid === "string" ? "" : invalid.message, "Unsupported parameter: temperature")
    assert.strictEqual(
      tag(SubscriptionLLM.classifyAnswer("r", answer(400, { error: { code: "context_length_exceeded" } }), 0)),
      "ResponseError:ContextLengthExceeded"
    )
  })

  it("a model the backend does not serve is ModelNotFound, in the backend's words and in OpenAI's", () => {
    const tag = (e: ReturnType<typeof SubscriptionLLM.classifyAnswer>) => (typeof e === "string" ? e : `${e._tag}:${e.reason}`)
    const codex = { detail: "The 'gpt-3' model is not supported when using Codex with a ChatGPT account." }
    assert.strictEqual(tag(SubscriptionLLM.classifyAnswer("r", answer(400, codex), 0)), "ResponseError:ModelNotFound")
    assert.strictEqual(
      tag(SubscriptionLLM.classifyAnswer("r", answer(404, { error: { code: "model_not_found", message: "no" } }), 0)),
      "ResponseError:ModelNotFound"
    )
    assert.strictEqual(
      tag(SubscriptionLLM.classifyAnswer("r", answer(400, { detail: "Unsupported parameter: model_reasoning" }), 0)),
      "ResponseError:InvalidRequest"
    )
  })

  it("a server that echoes the token in its error text has it scrubbed", () => {
    const token = "eyJhbGciOiJSUzI1NiJ9.payload.signature-value"
    const error = SubscriptionLLM.classifyAnswer("r", answer(400, { detail: `bad token ${token}` }), 0, [token])
    assert.notInclude(typeof error === "string" ? error : error.message, token)
  })
})

describe("rateLimitsOf", () => {
  it("reads windows (reset-at or reset-after against the clock), credits, plan and active limit", () => {
    const limits = SubscriptionLLM.rateLimitsOf({
      "x-codex-primary-used-percent": "100",
      "x-codex-primary-window-minutes": "300",
      "x-codex-primary-reset-after-seconds": "3600",
      "x-codex-secondary-used-percent": "40.5",
      "x-codex-secondary-reset-at": "1795346996",
      "x-codex-credits-has-credits": "True",
      "x-codex-credits-unlimited": "0",
      "x-codex-credits-balance": "12.50",
      "x-codex-plan-type": "plus",
      "x-codex-active-limit": "codex"
    } as any, 1_000_000)
    assert.deepStrictEqual(limits, {
      primary: { usedPercent: 100, windowMinutes: 300, resetsAt: DateTime.unsafeMake(1_000_000 + 3_600_000) },
      secondary: { usedPercent: 40.5, resetsAt: DateTime.unsafeMake(1795346996_000) },
      credits: { hasCredits: true, unlimited: false, balance: "12.50" },
      planType: "plus",
      activeLimit: "codex"
    })
  })

  it("nothing, or an empty window, gives nothing", () => {
    assert.isUndefined(SubscriptionLLM.rateLimitsOf({} as any, 0))
    assert.isUndefined(SubscriptionLLM.rateLimitsOf({ "x-codex-primary-used-percent": "0" } as any, 0))
    assert.isUndefined(SubscriptionLLM.rateLimitsOf({ "x-codex-primary-used-percent": "lots" } as any, 0))
  })

  it("other limit families: found by their primary used percent, id with _ for -, with their names; the codex limit name", () => {
    const limits = SubscriptionLLM.rateLimitsOf({
      "x-codex-primary-used-percent": "10",
      "x-codex-limit-name": "Codex",
      "x-codex-other-primary-used-percent": "95",
      "x-codex-other-primary-window-minutes": "300",
      "x-codex-other-primary-reset-at": "1795346996",
      "x-codex-other-secondary-used-percent": "20",
      "x-codex-other-limit-name": "GPT-5.3-Codex-Spark",
      "x-gpt_mini-primary-used-percent": "3",
      // Only a secondary window: not a family (codex-rs finds families by the primary's header).
      "x-lonely-secondary-used-percent": "50",
      // A family whose only window says nothing is ignored.
      "x-empty-primary-used-percent": "0"
    } as any, 0)
    assert.deepStrictEqual(limits, {
      primary: { usedPercent: 10 },
      limitName: "Codex",
      others: [
        {
          id: "codex_other",
          name: "GPT-5.3-Codex-Spark",
          primary: { usedPercent: 95, windowMinutes: 300, resetsAt: DateTime.unsafeMake(1795346996_000) },
          secondary: { usedPercent: 20 }
        },
        { id: "gpt_mini", primary: { usedPercent: 3 } }
      ]
    })
  })

  it("missing fields are left out, not guessed: a family of others alone, credits without a balance", () => {
    assert.deepStrictEqual(
      SubscriptionLLM.rateLimitsOf({ "x-spark-primary-used-percent": "50", "x-codex-credits-unlimited": "true" } as any, 0),
      { credits: { hasCredits: false, unlimited: true }, others: [{ id: "spark", primary: { usedPercent: 50 } }] }
    )
    // A window-minutes header without a used percent is no window.
    assert.isUndefined(SubscriptionLLM.rateLimitsOf({ "x-codex-primary-window-minutes": "300" } as any, 0))
  })

  it("a limit name with control characters comes out one printable line", () => {
    const limits = SubscriptionLLM.rateLimitsOf({
      "x-spark-primary-used-percent": "5",
      "x-spark-limit-name": "Spark\x1b]0;pwned\x07 fast"
    } as any, 0)
    assert.strictEqual(limits?.others?.[0]?.name, "Spark]0;pwned fast")
  })
})

describe("usageReportOf", () => {
  const now = 1_800_000_000_000
  const full = {
    plan_type: "plus",
    rate_limit: {
      allowed: true,
      limit_reached: false,
      primary_window: { used_percent: 6, limit_window_seconds: 18000, reset_after_seconds: 7800, reset_at: 1_800_007_800 },
      secondary_window: { used_percent: 41.5, limit_window_seconds: 604800, reset_after_seconds: 300000 }
    },
    code_review_rate_limit: { primary_window: { used_percent: 2, limit_window_seconds: 604800, reset_at: 1_800_100_000 } },
    additional_rate_limits: [
      {
        limit_name: "GPT-5.3-Codex-Spark",
        metered_feature: "codex_bengalfox",
        rate_limit: { primary_window: { used_percent: 93, limit_window_seconds: 18000, reset_at: 1_800_001_000 } }
      }
    ],
    credits: { has_credits: true, unlimited: false, balance: "5.39" }
  }

  it("a full body: plan, both windows (reset_at first, window minutes from seconds), code review, other families, credits", () => {
    assert.deepStrictEqual(SubscriptionLLM.usageReportOf(full, now), {
      planType: "plus",
      primary: { usedPercent: 6, windowMinutes: 300, resetsAt: DateTime.unsafeMake(1_800_007_800_000) },
      secondary: { usedPercent: 41.5, windowMinutes: 10080, resetsAt: DateTime.unsafeMake(now + 300_000_000) },
      credits: { hasCredits: true, unlimited: false, balance: "5.39" },
      codeReview: { primary: { usedPercent: 2, windowMinutes: 10080, resetsAt: DateTime.unsafeMake(1_800_100_000_000) } },
      others: [{
        id: "codex_bengalfox",
        name: "GPT-5.3-Codex-Spark",
        primary: { usedPercent: 93, windowMinutes: 300, resetsAt: DateTime.unsafeMake(1_800_001_000_000) }
      }],
      allowed: true,
      limitReached: false,
      fetchedAt: DateTime.unsafeMake(now)
    })
  })

  it("every part may be missing; a part that does not decode is left out, not the report", () => {
    assert.deepStrictEqual(SubscriptionLLM.usageReportOf({}, now), { fetchedAt: DateTime.unsafeMake(now) })
    const report = SubscriptionLLM.usageReportOf({
      plan_type: 7,
      rate_limit: { primary_window: { used_percent: "lots" }, secondary_window: { used_percent: 40, reset_at: null } },
      code_review_rate_limit: "nope",
      additional_rate_limits: [null, { limit_name: "No windows", rate_limit: {} }, { limit_name: "Named Only", rate_limit: { primary_window: { used_percent: 12 } } }],
      credits: { balance: 3 }
    }, now)
    assert.deepStrictEqual(report, {
      secondary: { usedPercent: 40 },
      others: [{ id: "named_only", name: "Named Only", primary: { usedPercent: 12 } }],
      fetchedAt: DateTime.unsafeMake(now)
    })
    // A window that says nothing (0 % and nothing else) is no window, as with the headers.
    assert.isUndefined(SubscriptionLLM.usageReportOf({ rate_limit: { primary_window: { used_percent: 0 } } }, now)?.primary)
    assert.isUndefined(SubscriptionLLM.usageReportOf({ rate_limit: { primary_window: { used_percent: -1, limit_window_seconds: 60 } } }, now)?.primary)
  })

  it("a numeric balance reads as text; a limit reached is said", () => {
    const report = SubscriptionLLM.usageReportOf({
      rate_limit: { allowed: false, limit_reached: true, primary_window: { used_percent: 100, limit_window_seconds: 18000 } },
      credits: { has_credits: false, unlimited: false, balance: 0 }
    }, now)
    assert.deepStrictEqual(report?.credits, { hasCredits: false, unlimited: false, balance: "0" })
    assert.strictEqual(report?.limitReached, true)
    assert.strictEqual(report?.allowed, false)
  })

  it("what is not a JSON object is no report", () => {
    for (const garbage of [undefined, null, "plus", 42, [full], true]) {
      assert.isUndefined(SubscriptionLLM.usageReportOf(garbage, now), JSON.stringify(garbage))
    }
  })

  it("usageUrlOf: the usage endpoint beside the Codex base", () => {
    assert.strictEqual(SubscriptionLLM.usageUrlOf(SubscriptionLLM.DEFAULT_BASE_URL), SubscriptionLLM.DEFAULT_USAGE_URL)
    assert.strictEqual(SubscriptionLLM.usageUrlOf("http://127.0.0.1:9/backend-api/codex/"), "http://127.0.0.1:9/backend-api/wham/usage")
    assert.strictEqual(SubscriptionLLM.usageUrlOf("https://proxy.example/v1"), "https://proxy.example/v1/wham/usage")
  })
})

describe("base URL", () => {
  const build = (options: SubscriptionLLM.Options) =>
    SubscriptionLLM.make(options).pipe(
      Effect.provide(Layer.succeed(TokenManager.TokenManager, {} as TokenManager.TokenManager["Type"])),
      Effect.provide(FetchHttpClient.layer),
      Effect.exit
    )

  it.effect("https by default; plain http only to loopback with allowInsecureHttp", () =>
    Effect.gen(function*() {
      assert.isTrue(Exit.isSuccess(yield* build({})))
      assert.isTrue(Exit.isSuccess(yield* build({ baseUrl: "http://127.0.0.1:9/backend-api/codex", allowInsecureHttp: true })))
      for (
        const options of [
          { baseUrl: "http://127.0.0.1:9/backend-api/codex" },
          { baseUrl: "http://example.com/backend-api/codex", allowInsecureHttp: true },
          { baseUrl: "ftp://example.com" },
          { baseUrl: "not a url" }
        ]
      ) {
        const exit = yield* build(options)
        assert.isTrue(Exit.isFailure(exit), options.baseUrl)
      }
      // The usage endpoint's address is checked by the same rule.
      assert.isTrue(Exit.isFailure(yield* build({ usageUrl: "http://example.com/backend-api/wham/usage" })))
      assert.isTrue(Exit.isSuccess(yield* build({ usageUrl: "http://127.0.0.1:9/wham/usage", allowInsecureHttp: true })))
    }))

  it.effect("layerConfig reads the options through Config; unset ones keep their defaults", () =>
    Effect.gen(function*() {
      const layer = SubscriptionLLM.layerConfig({
        baseUrl: Config.string("BASE"),
        allowInsecureHttp: Config.boolean("INSECURE"),
        model: Config.string("MODEL")
      }).pipe(
        Layer.provide(Layer.succeed(TokenManager.TokenManager, {} as TokenManager.TokenManager["Type"])),
        Layer.provide(FetchHttpClient.layer)
      )
      const withConfig = (entries: Record<string, string>) =>
        Effect.exit(Effect.scoped(Layer.build(layer)).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))))
      assert.isTrue(Exit.isSuccess(yield* withConfig({})), "nothing set: the defaults")
      assert.isTrue(Exit.isSuccess(yield* withConfig({ BASE: "http://127.0.0.1:9/codex", INSECURE: "true" })))
      const refused = yield* withConfig({ BASE: "http://127.0.0.1:9/codex" })
      assert.isTrue(Exit.isFailure(refused), "http without allowInsecureHttp")
      assert.isTrue(Exit.isFailure(yield* withConfig({ INSECURE: "maybe" })), "a malformed value is a ConfigError")
    }))
})
