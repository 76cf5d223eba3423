/**
 * Answers OpenAI gives in its own way, read by the official `openai` client:
 * an answer the backend cut short (`response.incomplete`) is the partial
 * answer with its reason, not a 502 the SDK retries and discards; an unknown
 * model is a 404 `model_not_found`.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend } from "@subauth/testing"
import { Effect } from "effect"
import OpenAI, { type APIError } from "openai"
import { authorized, call, client, fetchProxy, layer } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

const cutShort = (reason: string) => ({
  items: [FakeCodexBackend.reasoning("planning"), FakeCodexBackend.message("The first half of a long", { chunks: 3 })],
  ending: FakeCodexBackend.incomplete(reason)
})

describe("an answer the backend cut short, through the openai client", () => {
  it.live("chat: finish_reason length with the partial text, streamed and not, and not retried", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue(cutShort("max_output_tokens"), cutShort("max_output_tokens"), cutShort("content_filter"))
      const openai = yield* client({ maxRetries: 2 })
      const messages: Array<OpenAI.ChatCompletionMessageParam> = [{ role: "user", content: "Write a long story" }]
      const collected = yield* call(() => openai.chat.completions.create({ model: "gpt-5.5", messages, max_tokens: 10 }))
      assert.strictEqual(collected.choices[0]!.finish_reason, "length")
      assert.strictEqual(collected.choices[0]!.message.content, "The first half of a long")
      assert.isAbove(collected.usage!.completion_tokens, 0)

      const chunks = yield* call(async () => {
        const stream = await openai.chat.completions.create({ model: "gpt-5.5", messages, stream: true })
        const out: Array<OpenAI.ChatCompletionChunk> = []
        for await (const chunk of stream) out.push(chunk)
        return out
      })
      assert.strictEqual(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), "The first half of a long")
      assert.strictEqual(chunks[chunks.length - 1]!.choices[0]!.finish_reason, "length")

      const filtered = yield* call(() => openai.chat.completions.stream({ model: "gpt-5.5", messages }).finalChatCompletion())
      assert.strictEqual(filtered.choices[0]!.finish_reason, "content_filter")
      assert.strictEqual(filtered.choices[0]!.message.content, "The first half of a long")
      assert.lengthOf((yield* fake.requests).filter((r) => r.endpoint === "responses"), 3, "none of them retried")
    }).pipe(Effect.provide(layer())))

  it.live("responses: status incomplete with incomplete_details, streamed (response.incomplete) and not", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.enqueue(cutShort("max_output_tokens"), cutShort("max_output_tokens"))
      const openai = yield* client({ maxRetries: 2 })
      const collected = yield* call(() => openai.responses.create({ model: "gpt-5.5", input: "Write a long story" }))
      assert.strictEqual(collected.status, "incomplete")
      assert.deepStrictEqual(collected.incomplete_details, { reason: "max_output_tokens" })
      assert.strictEqual(collected.output_text, "The first half of a long")
      assert.deepStrictEqual(collected.output.map((o) => o.type), ["reasoning", "message"])

      const events: Array<string> = []
      const streamed = yield* call(async () => {
        const stream = openai.responses.stream({ model: "gpt-5.5", input: "Write a long story" })
        stream.on("event", (event) => void events.push(event.type))
        return await stream.finalResponse()
      })
      assert.strictEqual(streamed.status, "incomplete")
      assert.deepStrictEqual(streamed.incomplete_details, { reason: "max_output_tokens" })
      assert.strictEqual(streamed.output_text, "The first half of a long")
      assert.strictEqual(events[events.length - 1], "response.incomplete")
      assert.notInclude(events, "response.failed")
      assert.lengthOf((yield* fake.requests).filter((r) => r.endpoint === "responses"), 2)
    }).pipe(Effect.provide(layer())))
})

describe("an unknown model, through the openai client", () => {
  it.live("404 model_not_found, raised as NotFoundError, on chat and responses, streamed or not", () =>
    Effect.gen(function*() {
      const openai = yield* client({ maxRetries: 0 })
      const attempts: ReadonlyArray<() => Promise<unknown>> = [
        () => openai.chat.completions.create({ model: "gpt-3", messages: [{ role: "user", content: "hi" }] }),
        () => openai.chat.completions.create({ model: "gpt-3", messages: [{ role: "user", content: "hi" }], stream: true }),
        () => openai.responses.create({ model: "gpt-3", input: "hi" }),
        () => openai.responses.create({ model: "gpt-3", input: "hi", stream: true })
      ]
      for (const attempt of attempts) {
        const error = yield* Effect.flip(call(attempt))
        assert.instanceOf(error, OpenAI.NotFoundError)
        const e = error as APIError
        assert.strictEqual(e.status, 404)
        assert.strictEqual(e.code, "model_not_found")
        assert.strictEqual(e.param, "model")
        assert.include(e.message, "the model \"gpt-3\" is not in the subscription's catalog")
        // One message, said once: not the backend's words wrapped in brackets twice.
        assert.notInclude(e.message, "((")
        assert.notInclude(e.message, "status 400")
      }
    }).pipe(Effect.provide(layer())))
})

describe("request bodies as OpenAI's own clients write them", () => {
  it.live("explicit nulls OpenAI accepts are accepted", () =>
    Effect.gen(function*() {
      const body = {
        model: "gpt-5.5",
        messages: [
          { role: "system", content: "Be brief.", name: null },
          { role: "user", content: "hi", name: null },
          {
            role: "assistant",
            content: null,
            name: null,
            refusal: null,
            audio: null,
            function_call: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
          },
          { role: "tool", tool_call_id: "call_1", content: "done" }
        ],
        tools: [{ type: "function", function: { name: "f", description: null, parameters: { type: "object" }, strict: null } }],
        tool_choice: null,
        temperature: null,
        max_tokens: null,
        stop: null,
        stream: null,
        stream_options: null,
        response_format: null,
        reasoning_effort: null,
        n: null,
        user: null
      }
      const response = yield* fetchProxy("/v1/chat/completions", { method: "POST", headers: authorized, body: JSON.stringify(body) })
      assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.clone().text()))
    }).pipe(Effect.provide(layer())))

  it.live("validation errors say what is wrong in plain words, with the param; a bad role lists every role", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, unknown, string, string]> = [
        [
          "/v1/chat/completions",
          { model: "gpt-5.5", messages: [{ role: "wizard", content: "hi" }] },
          "messages[0].role",
          "\"messages[0].role\": must be one of \"system\", \"developer\", \"user\", \"assistant\", \"tool\" or \"function\", not \"wizard\""
        ],
        [
          "/v1/chat/completions",
          { model: "gpt-5.5", messages: "hi" },
          "messages",
          "\"messages\": must be an array, not \"hi\""
        ],
        [
          "/v1/chat/completions",
          { model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], reasoning_effort: "extreme" },
          "reasoning_effort",
          "\"reasoning_effort\": must be one of \"none\", \"minimal\", \"low\", \"medium\", \"high\" or \"xhigh\", not \"extreme\""
        ],
        ["/v1/chat/completions", { messages: [{ role: "user", content: "hi" }] }, "model", "\"model\": is required"],
        [
          "/v1/responses",
          { model: "gpt-5.5", input: [{ role: "wizard", content: "hi" }] },
          "input[0].role",
          "\"input[0].role\": must be one of \"user\", \"assistant\", \"system\" or \"developer\", not \"wizard\""
        ],
        ["/v1/responses", { model: "gpt-5.5", input: 5 }, "input", "\"input\": must be a string or an array, not 5"]
      ]
      for (const [path, body, param, message] of cases) {
        const response = yield* fetchProxy(path, { method: "POST", headers: authorized, body: JSON.stringify(body) })
        assert.strictEqual(response.status, 400)
        const { error } = yield* Effect.promise(() => response.json())
        assert.strictEqual(error.param, param)
        assert.strictEqual(error.message, `the request body is not valid: ${message}`)
        assert.notInclude(error.message, "…")
        assert.notInclude(error.message, "ReadonlyArray")
      }
    }).pipe(Effect.provide(layer())))
})
