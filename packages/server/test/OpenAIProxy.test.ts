/**
 * The official `openai` client (v6) against the proxy on 127.0.0.1, which is
 * backed by the fake Codex backend and the fake issuer over loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { TokenSet, TokenStore } from "@subauth/core"
import { Effect, Option } from "effect"
import OpenAI, { type APIError, type RateLimitError } from "openai"
import { authorized, backendBodies, call, client, fetchProxy, layer } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

describe("OpenAIProxy with the openai client", () => {
  it.live("chat, not streamed: the answer, usage, and a request the backend accepts", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue({ items: [FakeCodexBackend.message("Hello from the fake.")] })
      const openai = yield* client()
      const completion = yield* call(() =>
        openai.chat.completions.create({
          model: "gpt-5.5",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hello" }],
          temperature: 0.2,
          max_tokens: 100,
          top_p: 0.9
        })
      )
      assert.strictEqual(completion.object, "chat.completion")
      assert.strictEqual(completion.model, "gpt-5.5")
      assert.strictEqual(completion.choices[0]!.message.content, "Hello from the fake.")
      assert.strictEqual(completion.choices[0]!.finish_reason, "stop")
      assert.isAbove(completion.usage!.completion_tokens, 0)
      const [body] = yield* backendBodies
      // Dropped, not forwarded; the system prompt is a developer message.
      for (const name of ["temperature", "max_tokens", "max_output_tokens", "top_p"]) assert.notProperty(body, name)
      const input = body!.input as ReadonlyArray<{ role?: string }>
      assert.deepStrictEqual(input.map((i) => i.role), ["developer", "user"])
      assert.strictEqual(body!.store, false)
      assert.strictEqual(body!.stream, true)
    }).pipe(Effect.provide(layer())))

  it.live("chat, streamed: the deltas in order, usage in the last chunk, then [DONE]", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue({ items: [FakeCodexBackend.message("One two three four.", { chunks: 4 })] })
      const openai = yield* client()
      const chunks = yield* call(async () => {
        const stream = await openai.chat.completions.create({
          model: "gpt-5.5",
          messages: [{ role: "user", content: "Count" }],
          stream: true,
          stream_options: { include_usage: true }
        })
        const out: Array<OpenAI.ChatCompletionChunk> = []
        for await (const chunk of stream) out.push(chunk)
        return out
      })
      const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")
      assert.strictEqual(text, "One two three four.")
      assert.strictEqual(chunks[0]!.choices[0]!.delta.role, "assistant")
      assert.isAtLeast(chunks.filter((c) => (c.choices[0]?.delta.content ?? "") !== "").length, 4)
      const last = chunks[chunks.length - 1]!
      assert.deepStrictEqual(last.choices, [])
      assert.isAbove(last.usage!.total_tokens, 0)
      assert.strictEqual(chunks[chunks.length - 2]!.choices[0]!.finish_reason, "stop")
      assert.isTrue(new Set(chunks.map((c) => c.id)).size === 1 && chunks[0]!.id.startsWith("chatcmpl-"))
    }).pipe(Effect.provide(layer())))

  it.live("chat, streamed, raw: the body ends with data: [DONE]", () =>
    Effect.gen(function*() {
      const response = yield* fetchProxy("/v1/chat/completions", {
        method: "POST",
        headers: authorized,
        body: JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true })
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
      const text = yield* Effect.promise(() => response.text())
      assert.isTrue(text.endsWith("data: [DONE]\n\n"), text.slice(-80))
      assert.notInclude(text, "\"usage\"")
    }).pipe(Effect.provide(layer())))

  it.live("a tool-call round trip: tools and tool_choice forwarded, the call streamed back, the result answered", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [FakeCodexBackend.functionCall("get_weather", { city: "Paris" }, "call_abc")] },
        { items: [FakeCodexBackend.message("It is sunny in Paris.")] }
      )
      const openai = yield* client()
      const tools: Array<OpenAI.ChatCompletionTool> = [{
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather for a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        }
      }]
      const messages: Array<OpenAI.ChatCompletionMessageParam> = [{ role: "user", content: "Weather in Paris?" }]
      // The SDK's stream helper accumulates the chunks into a completion.
      const first = yield* call(() =>
        openai.chat.completions.stream({ model: "gpt-5.5", messages, tools, tool_choice: "required" }).finalChatCompletion()
      )
      const choice = first.choices[0]!
      assert.strictEqual(choice.finish_reason, "tool_calls")
      const calls = choice.message.tool_calls!
      assert.lengthOf(calls, 1)
      const call0 = calls[0]! as OpenAI.ChatCompletionMessageFunctionToolCall
      assert.strictEqual(call0.id, "call_abc")
      assert.strictEqual(call0.function.name, "get_weather")
      assert.deepStrictEqual(JSON.parse(call0.function.arguments), { city: "Paris" })

      messages.push(choice.message, { role: "tool", tool_call_id: call0.id, content: "{\"sky\":\"sunny\"}" })
      const second = yield* call(() => openai.chat.completions.create({ model: "gpt-5.5", messages, tools }))
      assert.strictEqual(second.choices[0]!.message.content, "It is sunny in Paris.")

      const [one, two] = yield* backendBodies
      assert.deepStrictEqual(one!.tool_choice, "required")
      assert.deepStrictEqual((one!.tools as ReadonlyArray<{ name: string }>).map((t) => t.name), ["get_weather"])
      // The fake backend refuses an output whose call is not in the same input: the round trip held.
      const items = two!.input as ReadonlyArray<Record<string, unknown>>
      assert.deepStrictEqual(items.map((i) => i.type), ["message", "function_call", "function_call_output"])
      assert.strictEqual(items[2]!.call_id, "call_abc")
    }).pipe(Effect.provide(layer())))

  it.live("response_format json_schema becomes text.format", () =>
    Effect.gen(function*() {
      const openai = yield* client()
      const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false }
      yield* call(() =>
        openai.chat.completions.create({
          model: "gpt-5.5",
          messages: [{ role: "user", content: "Answer in JSON" }],
          response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
          reasoning_effort: "low"
        })
      )
      const [body] = yield* backendBodies
      assert.deepStrictEqual(body!.text, { format: { type: "json_schema", strict: true, schema, name: "answer" } })
      assert.deepStrictEqual(body!.reasoning, { effort: "low" })
    }).pipe(Effect.provide(layer())))

  it.live("the Responses API: streamed through the SDK's helper, and collected for a non-streaming call", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [FakeCodexBackend.reasoning("Thinking about it"), FakeCodexBackend.message("Streamed answer.", { chunks: 3 })] },
        { items: [FakeCodexBackend.message("Collected answer.")] }
      )
      const openai = yield* client()
      const deltas: Array<string> = []
      const streamed = yield* call(async () => {
        const stream = openai.responses.stream({
          model: "gpt-5.5",
          instructions: "You are terse.",
          input: [{ role: "user", content: "hi" }],
          reasoning: { effort: "low", summary: "auto" },
          store: true,
          temperature: 1
        })
        stream.on("response.output_text.delta", (event) => void deltas.push(event.delta))
        return await stream.finalResponse()
      })
      assert.strictEqual(streamed.status, "completed")
      assert.strictEqual(streamed.output_text, "Streamed answer.")
      assert.strictEqual(deltas.join(""), "Streamed answer.")
      assert.deepStrictEqual(streamed.output.map((o) => o.type), ["reasoning", "message"])
      assert.isAbove(streamed.usage!.output_tokens, 0)

      const collected = yield* call(() => openai.responses.create({ model: "gpt-5.5", input: "again" }))
      assert.strictEqual(collected.object, "response")
      assert.strictEqual(collected.output_text, "Collected answer.")
      assert.strictEqual(collected.status, "completed")

      const [first, second] = yield* backendBodies
      // The backend's rules: store false, stream true, instructions as a developer message, no sampling parameters.
      assert.strictEqual(first!.store, false)
      assert.strictEqual(first!.stream, true)
      assert.notProperty(first!, "temperature")
      assert.notProperty(first!, "instructions")
      const input = first!.input as ReadonlyArray<{ role?: string; content?: unknown }>
      assert.deepStrictEqual(input.map((i) => i.role), ["developer", "user"])
      assert.deepStrictEqual(first!.reasoning, { effort: "low", summary: "auto" })
      assert.deepStrictEqual(second!.input, [{ type: "message", role: "user", content: [{ type: "input_text", text: "again" }] }])
    }).pipe(Effect.provide(layer())))

  it.live("the Responses API: a second turn that sends back the first turn's items (ids stripped upstream)", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue(
        { items: [FakeCodexBackend.reasoning("plan"), FakeCodexBackend.functionCall("lookup", { q: "x" }, "call_1")] },
        { items: [FakeCodexBackend.message("done")] }
      )
      const openai = yield* client()
      const first = yield* call(() =>
        openai.responses.create({
          model: "gpt-5.5",
          input: "look it up",
          tools: [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} }, strict: false }]
        })
      )
      const fc = first.output.find((o) => o.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall
      assert.strictEqual(fc.call_id, "call_1")
      const second = yield* call(() =>
        openai.responses.create({
          model: "gpt-5.5",
          input: [
            { role: "user", content: "look it up" },
            ...first.output as Array<OpenAI.Responses.ResponseInputItem>,
            { type: "function_call_output", call_id: "call_1", output: "found" }
          ]
        })
      )
      // The fake backend answers 404 to an input item with an id, 400 to a reasoning item it did not issue.
      assert.strictEqual(second.output_text, "done")
    }).pipe(Effect.provide(layer())))

  it.live("models: the subscription's catalog in OpenAI's list format", () =>
    Effect.gen(function*() {
      const openai = yield* client()
      const page = yield* call(() => openai.models.list())
      const ids = page.data.map((m) => m.id)
      assert.deepStrictEqual(ids, ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex"])
      assert.isTrue(page.data.every((m) => m.object === "model"))
      const one = yield* call(() => openai.models.retrieve("gpt-5.4"))
      assert.strictEqual(one.id, "gpt-5.4")
      const missing = yield* Effect.flip(call(() => openai.models.retrieve("gpt-3")))
      assert.instanceOf(missing, OpenAI.NotFoundError)
    }).pipe(Effect.provide(layer())))

  it.live("a wrong or missing key: 401, raised as AuthenticationError, and nothing reaches the backend", () =>
    Effect.gen(function*() {
      const wrong = yield* client({ apiKey: "sk-wrong" })
      const error = yield* Effect.flip(call(() => wrong.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] })))
      assert.instanceOf(error, OpenAI.AuthenticationError)
      assert.strictEqual((error as APIError).code, "invalid_api_key")
      const models = yield* Effect.flip(call(() => wrong.models.list()))
      assert.instanceOf(models, OpenAI.AuthenticationError)
      const none = yield* fetchProxy("/v1/models")
      assert.strictEqual(none.status, 401)
      const body = yield* Effect.promise(() => none.json())
      assert.deepStrictEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"])
      assert.lengthOf((yield* (yield* backend).requests), 0)
    }).pipe(Effect.provide(layer())))

  it.live("a usage limit: 429 with retry-after, raised as RateLimitError, not retried by the SDK", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1_900_000_000, resetsInSeconds: 3600 }) })
      const openai = yield* client({ maxRetries: 2 })
      const error = yield* Effect.flip(call(() =>
        openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true })
      ))
      assert.instanceOf(error, OpenAI.RateLimitError)
      const e = error as RateLimitError
      assert.strictEqual(e.status, 429)
      assert.strictEqual(e.headers.get("retry-after"), "3600")
      assert.strictEqual(e.code, "usage_limit_reached")
      assert.include(e.message, "usage limit of the ChatGPT plus plan reached")
      assert.lengthOf((yield* fake.requests).filter((r) => r.endpoint === "responses"), 1)
    }).pipe(Effect.provide(layer())))

  it.live("not signed in: 401 telling the user to run subauth login", () =>
    Effect.gen(function*() {
      yield* (yield* TokenStore.TokenStore).remove("default")
      const openai = yield* client()
      const error = yield* Effect.flip(call(() => openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] })))
      assert.instanceOf(error, OpenAI.AuthenticationError)
      assert.strictEqual((error as APIError).code, "sign_in_required")
      assert.include((error as Error).message, "run \"subauth login\"")
    }).pipe(Effect.provide(layer())))

  it.live("a dead refresh token: 401 sign_in_required, one refresh attempt", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const tokens = Option.getOrThrow(yield* store.get("default"))
      yield* store.set("default", new TokenSet.TokenSet({ ...tokens, expiresAt: tokens.obtainedAt }))
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      yield* oauth.inject({ endpoint: "token", fault: FakeHttp.status(401, FakeOAuthServer.errorBodies.reused) })
      const openai = yield* client()
      const error = yield* Effect.flip(call(() => openai.responses.create({ model: "gpt-5.5", input: "hi", stream: true })))
      assert.instanceOf(error, OpenAI.AuthenticationError)
      assert.include((error as Error).message, "the refresh token was already used; run \"subauth login\"")
      assert.lengthOf((yield* oauth.requests).filter((r) => r.endpoint === "token"), 1)
    }).pipe(Effect.provide(layer())))

  it.live("backend 5xx after the retries: 502", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.inject({ endpoint: "responses", fault: FakeHttp.status(503, { detail: "down" }), calls: "all" })
      const openai = yield* client({ maxRetries: 0 })
      const error = yield* Effect.flip(call(() => openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] })))
      assert.instanceOf(error, OpenAI.InternalServerError)
      assert.strictEqual((error as APIError).status, 502)
      assert.strictEqual((error as APIError).code, "backend_unavailable")
      // SubscriptionLLM's bounded retries happened behind the proxy.
      assert.isAbove((yield* fake.requests).filter((r) => r.endpoint === "responses").length, 1)
    }).pipe(Effect.provide(layer({}, { client: { retry: { attempts: 2, baseDelay: "1 millis" } } }))))

  it.live("a request the backend refuses mid-stream after output: the stream ends with an error the SDK raises", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue({
        items: [FakeCodexBackend.message("partial answer", { chunks: 2 })],
        ending: FakeCodexBackend.failed("server_error", "the model crashed")
      })
      const openai = yield* client()
      const seen: Array<string> = []
      const error = yield* Effect.flip(call(async () => {
        const stream = await openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true })
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "")
      }))
      assert.instanceOf(error, OpenAI.APIError)
      assert.include((error as Error).message, "the model crashed")
      assert.strictEqual(seen.join(""), "partial answer")
    }).pipe(Effect.provide(layer())))

  it.live("a failure before any output is answered with its own status, also when streaming", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue({ items: [], ending: FakeCodexBackend.failed("context_length_exceeded", "too long") })
      const openai = yield* client()
      const error = yield* Effect.flip(call(() =>
        openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true })
      ))
      assert.instanceOf(error, OpenAI.BadRequestError)
      assert.strictEqual((error as APIError).code, "context_length_exceeded")
    }).pipe(Effect.provide(layer())))
})

describe("request bodies at the HTTP edge", () => {
  it.live("not JSON, or not the schema: 400 in OpenAI's format with the param, never 500", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string, string | null]> = [
        ["/v1/chat/completions", "{not json", null],
        ["/v1/chat/completions", JSON.stringify({ model: "gpt-5.5" }), "messages"],
        ["/v1/chat/completions", JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: 42 }] }), "messages[0].content"],
        ["/v1/chat/completions", JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], n: 2 }), "n"],
        ["/v1/chat/completions", JSON.stringify([1, 2]), null],
        ["/v1/responses", JSON.stringify({ model: "gpt-5.5", input: "hi", previous_response_id: "resp_1" }), "previous_response_id"],
        ["/v1/responses", JSON.stringify({ model: "gpt-5.5", input: "hi", tools: [{ type: "web_search" }] }), "tools[0]"]
      ]
      for (const [path, body, param] of cases) {
        const response = yield* fetchProxy(path, { method: "POST", headers: authorized, body })
        assert.strictEqual(response.status, 400, body)
        const json = yield* Effect.promise(() => response.json())
        assert.strictEqual(json.error.type, "invalid_request_error")
        assert.strictEqual(json.error.param, param, body)
        assert.isString(json.error.message)
      }
      assert.lengthOf((yield* (yield* backend).requests), 0)
    }).pipe(Effect.provide(layer())))

  it.live("an unknown path: 404 in OpenAI's format", () =>
    Effect.gen(function*() {
      const response = yield* fetchProxy("/v1/embeddings", { method: "POST", headers: authorized, body: "{}" })
      assert.strictEqual(response.status, 404)
      assert.strictEqual((yield* Effect.promise(() => response.json())).error.code, "unknown_url")
    }).pipe(Effect.provide(layer())))
})
