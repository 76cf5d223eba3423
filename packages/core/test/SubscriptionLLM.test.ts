/**
 * SubscriptionLLM against the fake Codex backend and the fake issuer, over
 * real sockets on 127.0.0.1 (`it.live`: retries and timeouts use real time,
 * kept to milliseconds).
 */
import { assert, layer } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Chunk, DateTime, Duration, Effect, Either, Redacted, Stream } from "effect"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import { backendHarness, backendRequests, bodyOf, captureLogs, headerOf, sharedIssuer } from "./subscription-support.js"
import { refreshRequests, signIn, fieldOf } from "./support.js"

const ask = (text: string, extra: Partial<SubscriptionLLM.Request> = {}): SubscriptionLLM.Request => ({
  input: [SubscriptionLLM.userMessage(text)],
  ...extra
})

const backend = FakeCodexBackend.FakeCodexBackend

// The events a turn emitted before it ended, and how it ended.
const drain = (request: SubscriptionLLM.Request) =>
  Effect.gen(function*() {
    const events: Array<SubscriptionLLM.Event> = []
    const exit = yield* SubscriptionLLM.stream(request).pipe(
      Stream.runForEach((event) => Effect.sync(() => events.push(event))),
      Effect.either
    )
    return { events, exit }
  })

// A signed-in turn against a backend that answers every request with `fault`: the error, and how many requests.
const failingWith = (fault: FakeHttp.Fault) =>
  Effect.gen(function*() {
    yield* signIn()
    yield* (yield* backend).inject({ endpoint: "responses", fault })
    const error = yield* Effect.flip(SubscriptionLLM.generate(ask("hi")))
    return { error, requests: (yield* backendRequests()).length }
  })

// A signed-in turn against a backend whose first requests get these faults, one each: the text and the requests.
const succeedingAfter = (...faults: ReadonlyArray<FakeHttp.Fault>) =>
  Effect.gen(function*() {
    yield* signIn()
    const fake = yield* backend
    for (const [i, fault] of faults.entries()) yield* fake.inject({ endpoint: "responses", fault, calls: [i + 1] })
    const result = yield* SubscriptionLLM.generate(ask("hi"))
    return { text: result.text, requests: (yield* backendRequests()).length }
  })

const weatherTool: SubscriptionLLM.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false }
}

layer(sharedIssuer, { excludeTestServices: true })("SubscriptionLLM over loopback", (it) => {
  it.effect("streams rate limits, the created event, text deltas, the finished item and completion with usage", () =>
    Effect.gen(function*() {
      yield* signIn()
      yield* (yield* backend).enqueue({ items: [FakeCodexBackend.message("hello streaming world", { chunks: 3 })] })
      const { events, exit } = yield* drain(ask("hi"))
      assert.isTrue(Either.isRight(exit))
      assert.deepStrictEqual(events.map((e) => e._tag), [
        "RateLimits",
        "Created",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "ItemDone",
        "Completed"
      ])
      const text = events.flatMap((e) => (e._tag === "TextDelta" ? [e.delta] : [])).join("")
      assert.strictEqual(text, "hello streaming world")
      const limits = events[0]!._tag === "RateLimits" ? events[0]!.limits : undefined
      assert.strictEqual(limits?.primary?.usedPercent, 12.5)
      assert.strictEqual(limits?.primary?.windowMinutes, 300)
      assert.strictEqual(limits?.secondary?.windowMinutes, 10080)
      assert.isDefined(limits?.primary?.resetsAt)
      assert.deepStrictEqual(limits?.credits, { hasCredits: false, unlimited: false })
      const done = events.at(-1)!
      assert.isTrue(done._tag === "Completed" && done.usage !== undefined && done.usage.outputTokens > 0)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("generate collects the items of response.output_item.done; an empty completed.output loses nothing", () =>
    Effect.gen(function*() {
      yield* signIn()
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [FakeCodexBackend.message("from the items")], ending: FakeCodexBackend.completed({ output: "empty" }) },
        { items: [FakeCodexBackend.message("from the items")], ending: FakeCodexBackend.completed({ output: "items" }) }
      )
      const empty = yield* SubscriptionLLM.generate(ask("one"))
      const full = yield* SubscriptionLLM.generate(ask("two"))
      for (const result of [empty, full]) {
        assert.strictEqual(result.text, "from the items")
        assert.strictEqual(result.items.length, 1)
        assert.match(result.responseId, /^resp_fake_/)
        assert.strictEqual(result.rateLimits?.primary?.usedPercent, 12.5)
      }
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a tool call round-trips: the call, then its output sent back with the call, then the answer", () =>
    Effect.gen(function*() {
      yield* signIn()
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [FakeCodexBackend.functionCall("get_weather", { city: "Paris" })] },
        { items: [FakeCodexBackend.message("It is sunny in Paris.")] }
      )
      const first = ask("weather in Paris?", { tools: [weatherTool] })
      const turn1 = yield* SubscriptionLLM.generate(first)
      assert.strictEqual(turn1.toolCalls.length, 1)
      const call = turn1.toolCalls[0]!
      assert.strictEqual(call.name, "get_weather")
      assert.deepStrictEqual(JSON.parse(call.arguments), { city: "Paris" })
      const turn2 = yield* SubscriptionLLM.generate({
        ...first,
        input: [...first.input, ...turn1.items, SubscriptionLLM.functionCallOutput(call.callId, "sunny, 21°C")]
      })
      assert.strictEqual(turn2.text, "It is sunny in Paris.")
      const [, second] = yield* backendRequests()
      const input = bodyOf(second!).input as Array<Record<string, unknown>>
      assert.deepStrictEqual(input.map((i) => i.type), ["message", "function_call", "function_call_output"])
      assert.notProperty(input[1], "id")
      assert.strictEqual(input[1]!.call_id, call.callId)
      assert.strictEqual(input[2]!.call_id, call.callId)
      assert.deepStrictEqual(bodyOf(second!).tools[0], {
        type: "function",
        name: "get_weather",
        description: "The weather in a city",
        strict: false,
        parameters: weatherTool.parameters
      })
    }).pipe(Effect.provide(backendHarness())))

  it.effect("reasoning: summary deltas stream, the item comes with encrypted_content and is resent without its id", () =>
    Effect.gen(function*() {
      yield* signIn()
      const fake = yield* backend
      yield* fake.enqueue({ items: [FakeCodexBackend.reasoning("weighing options"), FakeCodexBackend.message("done")] })
      const { events } = yield* drain(ask("think", { reasoning: { effort: "high", summary: "auto" } }))
      const summary = events.flatMap((e) => (e._tag === "ReasoningSummaryDelta" ? [e.delta] : [])).join("")
      assert.strictEqual(summary, "weighing options")
      const items = events.flatMap((e) => (e._tag === "ItemDone" ? [e.item] : []))
      const reasoningItem = items.find((i) => i.type === "reasoning")!
      assert.match(String(reasoningItem.id), /^rs_fake_/)
      assert.isString(reasoningItem.encrypted_content)
      const again = yield* SubscriptionLLM.generate(ask("think", { input: [SubscriptionLLM.userMessage("think"), ...items, SubscriptionLLM.userMessage("more")] }))
      assert.strictEqual(again.text, "hi from the fake backend")
      const [first, second] = yield* backendRequests()
      assert.deepStrictEqual(bodyOf(first!).include, ["reasoning.encrypted_content"])
      const resent = (bodyOf(second!).input as Array<Record<string, unknown>>).filter((i) => i.type !== "message" || i.role === "assistant")
      assert.deepStrictEqual(resent.map((i) => i.type), ["reasoning", "message"])
      for (const item of resent) assert.notProperty(item, "id")
      assert.strictEqual(resent[0]!.encrypted_content, reasoningItem.encrypted_content)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("an item id in the input would be refused by the backend: ids never leave", () =>
    Effect.gen(function*() {
      yield* signIn()
      const result = yield* SubscriptionLLM.generate({
        input: [{ ...SubscriptionLLM.userMessage("hi"), id: "msg_01a202cd-dd24-7343-ada5-7d0c569566ba" }]
      })
      assert.strictEqual(result.text, "hi from the fake backend")
      const [request] = yield* backendRequests()
      assert.notInclude(request!.body, "msg_01a202cd")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("usage limit: UsageLimitReached with plan and reset time, after one request (never retried)", () =>
    Effect.gen(function*() {
      const { error, requests } = yield* failingWith(
        FakeCodexBackend.usageLimit({ resetsAt: 1795346996, resetsInSeconds: 3600, planType: "plus" })
      )
      assert.strictEqual(error._tag, "UsageLimitReached")
      if (error._tag !== "UsageLimitReached") return
      assert.strictEqual(error.reason, "UsageLimitReached")
      assert.strictEqual(error.planType, "plus")
      assert.strictEqual(error.resetsInSeconds, 3600)
      assert.strictEqual(DateTime.toEpochMillis(error.resetsAt!), 1795346996_000)
      assert.include(error.message, DateTime.formatIso(DateTime.unsafeMake(1795346996_000)))
      assert.include(error.message, "plus plan")
      assert.strictEqual(requests, 1)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a 401 for a token that was valid a moment ago: one recovery (refresh) and one more request", () =>
    Effect.gen(function*() {
      const tokens = yield* signIn()
      const fake = yield* backend
      yield* SubscriptionLLM.generate(ask("before"))
      yield* fake.rejectAccessToken(Redacted.value(tokens.accessToken))
      const result = yield* SubscriptionLLM.generate(ask("after"))
      assert.strictEqual(result.text, "hi from the fake backend")
      const requests = yield* backendRequests()
      assert.strictEqual(requests.length, 3)
      const bearer = requests.map((r) => headerOf(r, "authorization"))
      assert.strictEqual(bearer[0], bearer[1])
      assert.notStrictEqual(bearer[1], bearer[2])
      const refreshes = yield* refreshRequests
      assert.strictEqual(refreshes.length, 1)
      assert.strictEqual(fieldOf(refreshes[0]!, "refresh_reason"), "unauthorized_recovery")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("401 again after the recovery: ResponseError(Unauthorized) after exactly two requests", () =>
    Effect.gen(function*() {
      const { error, requests } = yield* failingWith(FakeHttp.status(401, FakeCodexBackend.unauthorizedBody))
      assert.strictEqual(error._tag === "ResponseError" && error.reason, "Unauthorized")
      assert.strictEqual(requests, 2)
      assert.strictEqual((yield* refreshRequests).length, 1)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("5xx then success: retried with backoff", () =>
    Effect.gen(function*() {
      const { requests, text } = yield* succeedingAfter(FakeHttp.status(502), FakeHttp.status(500))
      assert.strictEqual(text, "hi from the fake backend")
      assert.strictEqual(requests, 3)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("5xx every time: TransportError(ServerError) after the bounded retries (4 requests)", () =>
    Effect.gen(function*() {
      const { error, requests } = yield* failingWith(FakeHttp.status(503))
      assert.strictEqual(error._tag === "TransportError" && error.reason, "ServerError")
      assert.strictEqual(requests, 4)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("a connection reset before the answer is retried", () =>
    Effect.gen(function*() {
      const { requests, text } = yield* succeedingAfter(FakeHttp.reset)
      assert.strictEqual(text, "hi from the fake backend")
      assert.strictEqual(requests, 2)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("503 server_is_overloaded: ResponseError(Overloaded), not retried", () =>
    Effect.gen(function*() {
      const { error, requests } = yield* failingWith(
        FakeHttp.status(503, { error: { code: "server_is_overloaded", message: "Our servers are busy" } })
      )
      assert.strictEqual(error._tag === "ResponseError" && error.reason, "Overloaded")
      assert.strictEqual(requests, 1)
    }).pipe(Effect.provide(backendHarness())))

  for (const mode of ["close", "drop"] as const) {
    it.effect(`a stream cut before response.completed (${mode}): the deltas that came, then ResponseError(StreamClosed)`, () =>
      Effect.gen(function*() {
        yield* signIn()
        const fake = yield* backend
        const answer = { items: [FakeCodexBackend.message("half an answer", { chunks: 2 })], ending: FakeCodexBackend.cut({ mode }) }
        yield* fake.enqueue(answer, answer)
        const { events, exit } = yield* drain(ask("hi"))
        assert.isTrue(Either.isLeft(exit))
        if (Either.isRight(exit)) return
        assert.strictEqual(exit.left._tag === "ResponseError" && exit.left.reason, "StreamClosed")
        assert.strictEqual(events.flatMap((e) => (e._tag === "TextDelta" ? [e.delta] : [])).join(""), "half an answer")
        assert.isFalse(events.some((e) => e._tag === "Completed"))
        const error = yield* Effect.flip(SubscriptionLLM.generate(ask("hi")))
        assert.strictEqual(error._tag === "ResponseError" && error.reason, "StreamClosed")
        assert.strictEqual((yield* backendRequests()).length, 2, "a cut stream is not retried")
      }).pipe(Effect.provide(backendHarness())))
  }

  it.effect("response.failed is typed by its code; an unknown code is Failed with the backend's message", () =>
    Effect.gen(function*() {
      yield* signIn()
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [], ending: FakeCodexBackend.failed("context_length_exceeded", "Your input exceeds the context window of this model.") },
        { items: [], ending: FakeCodexBackend.failed("insufficient_quota", "You exceeded your current quota.") },
        { items: [], ending: FakeCodexBackend.failed("cyber_policy", "This request has been flagged for possible cybersecurity risk.") },
        { items: [], ending: FakeCodexBackend.failed("server_error", "Something went wrong.") },
        {
          items: [],
          ending: FakeCodexBackend.failed("usage_limit_reached", "The usage limit has been reached", { plan_type: "pro", resets_at: 1795346996 })
        }
      )
      const reasons: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const error = yield* Effect.flip(SubscriptionLLM.generate(ask(`turn ${i}`)))
        reasons.push(error._tag === "ResponseError" || error._tag === "UsageLimitReached" ? `${error._tag}:${error.reason}` : error._tag)
        if (i === 3) assert.include(error.message, "Something went wrong.")
      }
      assert.deepStrictEqual(reasons, [
        "ResponseError:ContextLengthExceeded",
        "ResponseError:QuotaExceeded",
        "ResponseError:PolicyViolation",
        "ResponseError:Failed",
        "UsageLimitReached:UsageLimitReached"
      ])
      assert.strictEqual((yield* backendRequests()).length, 5, "none of them retried")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("response.incomplete is an answer cut short, with its reason: the text that came, not an error", () =>
    Effect.gen(function*() {
      yield* signIn()
      const answer = { items: [FakeCodexBackend.message("a partial answer", { chunks: 2 })], ending: FakeCodexBackend.incomplete("max_output_tokens") }
      yield* (yield* backend).enqueue(answer, answer, { ...answer, ending: FakeCodexBackend.incomplete("content_filter") })
      const result = yield* SubscriptionLLM.generate(ask("write a lot"))
      assert.strictEqual(result.text, "a partial answer")
      assert.deepStrictEqual(result.incomplete, { reason: "max_output_tokens" })
      assert.match(result.responseId, /^resp_fake_/)
      const { events, exit } = yield* drain(ask("write a lot"))
      assert.isTrue(Either.isRight(exit))
      const last = events[events.length - 1]!
      assert.strictEqual(last._tag, "Incomplete")
      assert.strictEqual(last._tag === "Incomplete" && last.reason, "max_output_tokens")
      assert.strictEqual(events.flatMap((e) => (e._tag === "TextDelta" ? [e.delta] : [])).join(""), "a partial answer")
      assert.deepStrictEqual((yield* SubscriptionLLM.generate(ask("again"))).incomplete, { reason: "content_filter" })
      // A complete answer says nothing of the kind.
      assert.notProperty(yield* SubscriptionLLM.generate(ask("short")), "incomplete")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("input the backend cannot take with store false is refused, never left out: item_reference, bare reasoning", () =>
    Effect.gen(function*() {
      yield* signIn()
      const reference = yield* Effect.flip(SubscriptionLLM.generate({
        input: [SubscriptionLLM.userMessage("hi"), { type: "item_reference", id: "msg_earlier" }, SubscriptionLLM.userMessage("and?")]
      }))
      assert.strictEqual(reference._tag === "ResponseError" && reference.reason, "InvalidRequest")
      assert.include(reference.message, "input item 1")
      assert.include(reference.message, "\"msg_earlier\"")
      assert.include(reference.message, "send the item itself")
      const reasoning = yield* Effect.flip(SubscriptionLLM.generate({
        input: [SubscriptionLLM.userMessage("hi"), { type: "reasoning", id: "rs_1", summary: [] }]
      }))
      assert.include(reasoning.message, "\"encrypted_content\"")
      assert.lengthOf(yield* backendRequests(), 0)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("unsupported sampling parameters are dropped with a debug line, never sent", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      yield* signIn()
      const result = yield* SubscriptionLLM.generate(
        ask("hi", { temperature: 0.2, topP: 0.9, maxOutputTokens: 100, maxCompletionTokens: 100, seed: 7 })
      )
      assert.strictEqual(result.text, "hi from the fake backend")
      const [request] = yield* backendRequests()
      for (const name of ["temperature", "top_p", "max_output_tokens", "max_completion_tokens", "seed", "topP", "maxOutputTokens"]) {
        assert.notProperty(bodyOf(request!), name)
      }
      for (const name of ["temperature", "top_p", "max_output_tokens", "max_completion_tokens", "seed"]) {
        assert.isTrue(lines.some((l) => l.includes(`dropped \\"${name}\\"`) || l.includes(`dropped "${name}"`)), name)
      }
    }).pipe(Effect.provide(backendHarness()), Effect.provide(captureLogs(lines)))
  })

  it.effect("a stream that goes silent longer than idleTimeout fails with TransportError(Timeout)", () =>
    Effect.gen(function*() {
      yield* signIn()
      yield* (yield* backend).enqueue({ items: [FakeCodexBackend.message("slow")], eventDelay: "400 millis" })
      const error = yield* Effect.flip(SubscriptionLLM.generate(ask("hi")))
      assert.strictEqual(error._tag === "TransportError" && error.reason, "Timeout")
    }).pipe(Effect.provide(backendHarness({ client: { idleTimeout: "100 millis" } }))))

  for (const idleTimeout of [Duration.seconds(5), Duration.infinity]) {
    it.effect(`a slow stream within idleTimeout (${Duration.format(idleTimeout)}) completes`, () =>
      Effect.gen(function*() {
        yield* signIn()
        yield* (yield* backend).enqueue({ items: [FakeCodexBackend.message("slow but steady")], eventDelay: "5 millis" })
        const result = yield* SubscriptionLLM.generate(ask("hi"))
        assert.strictEqual(result.text, "slow but steady")
      }).pipe(Effect.provide(backendHarness({ client: { idleTimeout } }))))
  }

  it.effect("models: the backend's catalog with client_version; the bundled list when the backend fails", () =>
    Effect.gen(function*() {
      yield* signIn()
      const list = yield* SubscriptionLLM.models
      assert.strictEqual(list.source, "backend")
      assert.deepStrictEqual(list.models.map((m) => m.slug), ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex"])
      assert.deepStrictEqual(list.models[0]!.reasoningEfforts, ["low", "medium", "high"])
      assert.strictEqual(list.models[0]!.contextWindow, 272_000)
      const [request] = yield* backendRequests("models")
      assert.deepStrictEqual(request!.query, [["client_version", SubscriptionLLM.DEFAULT_CLIENT_VERSION]])
      assert.match(headerOf(request!, "authorization")!, /^Bearer /)
      yield* (yield* backend).inject({ endpoint: "models", fault: FakeHttp.status(500) })
      const fallback = yield* SubscriptionLLM.models
      assert.strictEqual(fallback.source, "bundled")
      assert.deepStrictEqual(fallback.models, SubscriptionLLM.BUNDLED_MODELS)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("not signed in: ReauthRequired(NotSignedIn), and no request reaches the backend", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SubscriptionLLM.generate(ask("hi")))
      assert.strictEqual(error._tag === "ReauthRequired" && error.reason, "NotSignedIn")
      assert.strictEqual((yield* backendRequests()).length, 0)
      const list = yield* SubscriptionLLM.models
      assert.strictEqual(list.source, "bundled")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("the stream can be consumed partially: taking the first delta ends the request", () =>
    Effect.gen(function*() {
      yield* signIn()
      yield* (yield* backend).enqueue({ items: [FakeCodexBackend.message("a b c d", { chunks: 4 })], eventDelay: "10 millis" })
      const first = yield* SubscriptionLLM.stream(ask("hi")).pipe(
        Stream.filter((e) => e._tag === "TextDelta"),
        Stream.take(1),
        Stream.runCollect
      )
      assert.strictEqual(Chunk.size(first), 1)
    }).pipe(Effect.provide(backendHarness())))
})
