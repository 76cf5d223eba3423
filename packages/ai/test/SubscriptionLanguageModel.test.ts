/**
 * The @effect/ai LanguageModel over the subscription, against the fake backend
 * on 127.0.0.1.
 */
import { AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { assert, layer } from "@effect/vitest"
import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend } from "@subauth/testing"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as SubscriptionLanguageModel from "../src/SubscriptionLanguageModel.js"
import { bodies, modelOnSharedIssuer, sharedIssuer } from "./support.js"

const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: { city: Schema.String },
  success: Schema.String
})
const Weather = Toolkit.make(GetWeather)
const WeatherHandlers = Weather.toLayer({ GetWeather: ({ city }) => Effect.succeed(`sunny in ${city}`) })

const model = modelOnSharedIssuer

const fake = FakeCodexBackend.FakeCodexBackend

layer(sharedIssuer, { excludeTestServices: true })("SubscriptionLanguageModel", (it) => {
  it.effect("generateText works although the backend only streams; system prompts go as developer messages", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue({ items: [FakeCodexBackend.message("a full answer", { chunks: 4 })] })
      const response = yield* LanguageModel.generateText({
        prompt: [{ role: "system", content: "Be terse." }, { role: "user", content: "Hello?" }]
      })
      assert.strictEqual(response.text, "a full answer")
      assert.strictEqual(response.finishReason, "stop")
      assert.isAbove(response.usage.outputTokens ?? 0, 0)
      const [body] = yield* bodies
      assert.deepStrictEqual(body!.input, [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Be terse." }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "Hello?" }] }
      ])
      assert.strictEqual(body!.model, "gpt-5.4")
    }).pipe(Effect.provide(model({}, { model: "gpt-5.4" }))))

  it.effect("streamText: text-start, deltas, text-end, then finish", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue({ items: [FakeCodexBackend.message("one two", { chunks: 2 })] })
      const parts = Chunk.toArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hi" })))
      assert.deepStrictEqual(parts.map((p) => p.type), ["response-metadata", "text-start", "text-delta", "text-delta", "text-end", "finish"])
      assert.strictEqual(parts.flatMap((p) => (p.type === "text-delta" ? [p.delta] : [])).join(""), "one two")
    }).pipe(Effect.provide(model())))

  it.effect("an answer the backend cut short finishes with length (or content-filter), its text kept, not an error", () =>
    Effect.gen(function*() {
      const cut = (reason: string) => ({
        items: [FakeCodexBackend.message("half a story", { chunks: 2 })],
        ending: FakeCodexBackend.incomplete(reason)
      })
      yield* (yield* fake).enqueue(cut("max_output_tokens"), cut("content_filter"))
      const generated = yield* LanguageModel.generateText({ prompt: "A long story" })
      assert.strictEqual(generated.text, "half a story")
      assert.strictEqual(generated.finishReason, "length")
      const parts = Chunk.toArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "A long story" })))
      assert.strictEqual(parts.flatMap((p) => (p.type === "text-delta" ? [p.delta] : [])).join(""), "half a story")
      const finish = parts[parts.length - 1]!
      assert.strictEqual(finish.type === "finish" && finish.reason, "content-filter")
    }).pipe(Effect.provide(model())))

  it.effect("tool calls round-trip: resolved by the toolkit, sent back as function_call_output with the call", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue(
        { items: [FakeCodexBackend.functionCall("GetWeather", { city: "Paris" })] },
        { items: [FakeCodexBackend.message("It is sunny in Paris.")] }
      )
      const prompt = Prompt.make("Weather in Paris?")
      const first = yield* LanguageModel.generateText({ prompt, toolkit: Weather })
      assert.strictEqual(first.finishReason, "tool-calls")
      assert.strictEqual(first.toolCalls[0]!.name, "GetWeather")
      assert.deepStrictEqual(first.toolCalls[0]!.params, { city: "Paris" })
      assert.strictEqual(first.toolResults[0]!.result, "sunny in Paris")
      const second = yield* LanguageModel.generateText({
        prompt: Prompt.merge(prompt, Prompt.fromResponseParts(first.content)),
        toolkit: Weather
      })
      assert.strictEqual(second.text, "It is sunny in Paris.")
      const [one, two] = yield* bodies
      assert.deepStrictEqual(one!.tools, [{
        type: "function",
        name: "GetWeather",
        description: "The weather in a city",
        strict: false,
        parameters: Tool.getJsonSchema(GetWeather)
      }])
      assert.strictEqual(one!.tool_choice, "auto")
      const input = two!.input as Array<Record<string, unknown>>
      assert.deepStrictEqual(input.map((i) => i.type), ["message", "function_call", "function_call_output"])
      assert.strictEqual(input[1]!.call_id, first.toolCalls[0]!.id)
      assert.strictEqual(input[2]!.call_id, first.toolCalls[0]!.id)
      assert.strictEqual(input[2]!.output, JSON.stringify("sunny in Paris"))
    }).pipe(Effect.provide(WeatherHandlers), Effect.provide(model())))

  it.effect("tool choice: a named tool and required map to the backend's tool_choice", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "a", toolkit: Weather, toolChoice: { tool: "GetWeather" } })
      yield* LanguageModel.generateText({ prompt: "b", toolkit: Weather, toolChoice: "required" })
      const [one, two] = yield* bodies
      assert.deepStrictEqual(one!.tool_choice, { type: "function", name: "GetWeather" })
      assert.strictEqual(two!.tool_choice, "required")
    }).pipe(Effect.provide(WeatherHandlers), Effect.provide(model())))

  it.effect("streamText with tools: the tool call part, then its result from the toolkit", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue({ items: [FakeCodexBackend.functionCall("GetWeather", { city: "Oslo" })] })
      const parts = Chunk.toArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Oslo?", toolkit: Weather })))
      const types = parts.map((p) => p.type)
      assert.includeMembers(types, ["tool-call", "tool-result", "finish"])
      const result = parts.find((p) => p.type === "tool-result")
      assert.strictEqual(result?.type === "tool-result" && result.result, "sunny in Oslo")
      const finish = parts.at(-1)
      assert.strictEqual(finish?.type === "finish" && finish.reason, "tool-calls")
    }).pipe(Effect.provide(WeatherHandlers), Effect.provide(model())))

  it.effect("reasoning parts carry the encrypted content, which goes back with the next prompt", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue({ items: [FakeCodexBackend.reasoning("thinking hard"), FakeCodexBackend.message("42")] })
      const first = yield* LanguageModel.generateText({ prompt: "Answer?" })
      assert.strictEqual(first.reasoningText, "thinking hard")
      const reasoning = first.reasoning[0]!
      const encrypted = reasoning.metadata.subauth?.encryptedContent
      assert.isString(encrypted)
      const prompt = Prompt.make([
        { role: "user", content: "Answer?" },
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: reasoning.text, options: { subauth: { encryptedContent: encrypted } } },
            { type: "reasoning", text: "no encrypted content: not resent" },
            { type: "text", text: first.text }
          ]
        },
        { role: "user", content: "Why?" }
      ])
      const second = yield* LanguageModel.generateText({ prompt })
      assert.strictEqual(second.text, "hi from the fake backend")
      const [, body] = yield* bodies
      const input = body!.input as Array<Record<string, unknown>>
      assert.deepStrictEqual(input.map((i) => i.type), ["message", "reasoning", "message", "message"])
      assert.strictEqual(input[1]!.encrypted_content, encrypted)
      assert.notProperty(input[1]!, "id")
    }).pipe(Effect.provide(model())))

  it.effect("generateObject: a JSON schema format, and the value decoded from the answer", () =>
    Effect.gen(function*() {
      yield* (yield* fake).enqueue({ items: [FakeCodexBackend.message(JSON.stringify({ name: "Ada", age: 36 }))] })
      const Person = Schema.Struct({ name: Schema.String, age: Schema.Number })
      const response = yield* LanguageModel.generateObject({ prompt: "Who?", schema: Person, objectName: "person" })
      assert.deepStrictEqual(response.value, { name: "Ada", age: 36 })
      const [body] = yield* bodies
      assert.strictEqual(body!.text.format.type, "json_schema")
      assert.strictEqual(body!.text.format.name, "person")
      assert.deepStrictEqual(body!.text.format.schema.required, ["name", "age"])
    }).pipe(Effect.provide(model())))

  it.effect("a usage limit is an AiError whose cause is the typed UsageLimitReached; settings override per effect", () =>
    Effect.gen(function*() {
      yield* (yield* fake).inject({
        endpoint: "responses",
        fault: FakeCodexBackend.usageLimit({ resetsAt: 1795346996, resetsInSeconds: 3600 }),
        calls: [1]
      })
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      assert.isTrue(AiError.isAiError(error))
      assert.strictEqual(error._tag, "UnknownError")
      const cause = error._tag === "UnknownError" ? error.cause : undefined
      assert.instanceOf(cause, SubscriptionLLM.UsageLimitReached)
      assert.include(error.message, "2026-11-22T11:29:56.000Z")
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        SubscriptionLanguageModel.withConfigOverride({ model: "gpt-5.4-mini", temperature: 0.3 })
      )
      const [, body] = yield* bodies
      assert.strictEqual(body!.model, "gpt-5.4-mini")
      assert.notProperty(body!, "temperature")
    }).pipe(Effect.provide(model())))
})
