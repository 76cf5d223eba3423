/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai`), a client nobody here wrote,
 * against the proxy on 127.0.0.1 over the fake Codex backend: both of its
 * OpenAI providers (`openai(model)`, the Responses API, and
 * `openai.chat(model)`), with their default settings.
 */
import { createOpenAI } from "@ai-sdk/openai"
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend } from "@subauth/testing"
import { generateText, type LanguageModel, type ModelMessage, stepCountIs, streamObject, streamText, tool } from "ai"
import { Effect, Redacted } from "effect"
import { z } from "zod"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { backendBodies, call, enqueue, KEY, layer } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

type Item = Record<string, unknown>

/** The AI SDK's OpenAI provider for the proxy in context, and the bodies it sent (parsed). */
const provider = Effect.map(OpenAIProxy.OpenAIProxy, (proxy) => {
  const sent: Array<Record<string, unknown>> = []
  const openai = createOpenAI({
    baseURL: `${proxy.url}/v1`,
    apiKey: Redacted.value(KEY),
    fetch: async (input, init) => {
      if (typeof init?.body === "string") sent.push(JSON.parse(init.body) as Record<string, unknown>)
      return fetch(input, init)
    }
  })
  return { openai, sent }
})

const providers: ReadonlyArray<readonly [string, (openai: ReturnType<typeof createOpenAI>) => LanguageModel]> = [
  ["the Responses provider, openai(model)", (openai) => openai("gpt-5.5")],
  ["the Chat Completions provider, openai.chat(model)", (openai) => openai.chat("gpt-5.5")]
]

const textOf = (item: Item): string =>
  (item.content as ReadonlyArray<{ text?: string }>).map((part) => part.text ?? "").join("")

/** A backend input as `role: text` / `reasoning: summary` / `type` lines, to compare whole conversations. */
const transcript = (input: ReadonlyArray<Item>): Array<string> =>
  input.map((item) =>
    item.type === "message"
      ? `${String(item.role)}: ${textOf(item)}`
      : item.type === "reasoning"
      ? `reasoning: ${(item.summary as ReadonlyArray<{ text: string }>).map((s) => s.text).join("")}`
      : item.type === "function_call"
      ? `call ${String(item.call_id)}: ${String(item.name)}(${String(item.arguments)})`
      : item.type === "function_call_output"
      ? `output ${String(item.call_id)}`
      : String(item.type)
  )

for (const [name, modelOf] of providers) {
  const responses = name.startsWith("the Responses")

  describe(`the AI SDK, ${name}`, () => {
    it.live("a three-turn conversation fed back from response.messages keeps every earlier turn, reasoning included", () =>
      Effect.gen(function*() {
        yield* enqueue(
          { items: [FakeCodexBackend.reasoning("thinking one"), FakeCodexBackend.message("Answer one.")] },
          { items: [FakeCodexBackend.reasoning("thinking two"), FakeCodexBackend.message("Answer two.", { chunks: 3 })] },
          { items: [FakeCodexBackend.message("Answer three.")] }
        )
        const { openai, sent } = yield* provider
        const model = modelOf(openai)
        const messages: Array<ModelMessage> = [{ role: "user", content: "Question one?" }]
        const first = yield* call(() => generateText({ model, messages }))
        assert.strictEqual(first.text, "Answer one.")
        messages.push(...first.response.messages, { role: "user", content: "Question two?" })
        // The second turn streamed, so that what a stream answered is kept as well.
        const second = yield* call(async () => {
          const result = streamText({ model, messages })
          return { text: await result.text, response: await result.response }
        })
        assert.strictEqual(second.text, "Answer two.")
        messages.push(...second.response.messages, { role: "user", content: "Question three?" })
        const third = yield* call(() => generateText({ model, messages }))
        assert.strictEqual(third.text, "Answer three.")

        const bodies = yield* backendBodies
        assert.lengthOf(bodies, 3)
        const last = bodies[2]!.input as ReadonlyArray<Item>
        assert.deepStrictEqual(
          transcript(last),
          responses
            ? [
              "user: Question one?",
              "reasoning: thinking one",
              "assistant: Answer one.",
              "user: Question two?",
              "reasoning: thinking two",
              "assistant: Answer two.",
              "user: Question three?"
            ]
            : ["user: Question one?", "assistant: Answer one.", "user: Question two?", "assistant: Answer two.", "user: Question three?"]
        )
        if (responses) {
          // The reasoning went back with the encrypted content the backend issued (the fake refuses any other).
          const issued = (n: number) =>
            (bodies[n]!.input as ReadonlyArray<Item>).filter((i) => i.type === "reasoning").map((i) => i.encrypted_content)
          assert.strictEqual(issued(2).length, 2)
          assert.isTrue(issued(2).every((e) => typeof e === "string" && e.startsWith("gAAAAB_FAKE_")))
          // The SDK's defaults sent references (nothing was sent in full), which the proxy resolved.
          const referenced = (sent[2]!.input as ReadonlyArray<Item>).filter((i) => i.type === "item_reference")
          assert.lengthOf(referenced, 4)
          assert.notProperty(sent[2]!, "store")
        }
      }).pipe(Effect.provide(layer())))

    it.live("a tool loop over several steps: each call, its result, and the answer", () =>
      Effect.gen(function*() {
        yield* enqueue(
          { items: [FakeCodexBackend.reasoning("Paris first"), FakeCodexBackend.functionCall("weather", { city: "Paris" }, "call_1")] },
          { items: [FakeCodexBackend.reasoning("now Rome"), FakeCodexBackend.functionCall("weather", { city: "Rome" }, "call_2")] },
          { items: [FakeCodexBackend.message("Sunny in Paris, rain in Rome.")] }
        )
        const { openai } = yield* provider
        const asked: Array<string> = []
        const result = yield* call(() =>
          generateText({
            model: modelOf(openai),
            prompt: "Weather in Paris, then Rome?",
            stopWhen: stepCountIs(5),
            tools: {
              weather: tool({
                description: "The weather in a city",
                inputSchema: z.object({ city: z.string() }),
                execute: async ({ city }) => {
                  asked.push(city)
                  return { city, sky: city === "Paris" ? "sunny" : "rain" }
                }
              })
            }
          })
        )
        assert.strictEqual(result.text, "Sunny in Paris, rain in Rome.")
        assert.lengthOf(result.steps, 3)
        assert.deepStrictEqual(asked, ["Paris", "Rome"])

        const bodies = yield* backendBodies
        assert.deepStrictEqual((bodies[0]!.tools as ReadonlyArray<{ name: string }>).map((t) => t.name), ["weather"])
        const lines = transcript(bodies[2]!.input as ReadonlyArray<Item>)
        assert.deepStrictEqual(
          lines,
          [
            "user: Weather in Paris, then Rome?",
            ...(responses ? ["reasoning: Paris first"] : []),
            "call call_1: weather({\"city\":\"Paris\"})",
            "output call_1",
            ...(responses ? ["reasoning: now Rome"] : []),
            "call call_2: weather({\"city\":\"Rome\"})",
            "output call_2"
          ]
        )
      }).pipe(Effect.provide(layer())))

    it.live("a streamed tool call opens no empty text part before it", () =>
      Effect.gen(function*() {
        yield* enqueue({ items: [FakeCodexBackend.functionCall("weather", { city: "Oslo" }, "call_9")] })
        const { openai } = yield* provider
        const parts = yield* call(async () => {
          const result = streamText({
            model: modelOf(openai),
            prompt: "Weather in Oslo?",
            tools: { weather: tool({ description: "The weather in a city", inputSchema: z.object({ city: z.string() }) }) }
          })
          const types: Array<string> = []
          for await (const part of result.fullStream) types.push(part.type)
          return types
        })
        assert.include(parts, "tool-call")
        assert.notInclude(parts, "text-start")
        assert.notInclude(parts, "text-delta")
      }).pipe(Effect.provide(layer())))

    it.live("streamObject: the object streamed as structured output, its schema sent as text.format", () =>
      Effect.gen(function*() {
        const fake = yield* backend
        const object = { name: "Ada", languages: ["English", "French"] }
        yield* fake.enqueue({ items: [FakeCodexBackend.message(JSON.stringify(object), { chunks: 5 })] })
        const { openai } = yield* provider
        const streamed = yield* call(async () => {
          const result = streamObject({
            model: modelOf(openai),
            schema: z.object({ name: z.string(), languages: z.array(z.string()) }),
            prompt: "Describe Ada."
          })
          const partials: Array<unknown> = []
          for await (const partial of result.partialObjectStream) partials.push(partial)
          return { object: await result.object, partials }
        })
        assert.deepStrictEqual(streamed.object, object)
        assert.isAbove(streamed.partials.length, 1)
        const [body] = yield* backendBodies
        const format = (body!.text as { format: { type: string; schema: { properties: Record<string, unknown> } } }).format
        assert.strictEqual(format.type, "json_schema")
        assert.deepStrictEqual(Object.keys(format.schema.properties).sort(), ["languages", "name"])
      }).pipe(Effect.provide(layer())))

    it.live("an abort mid-stream closes the request to the backend", () =>
      Effect.gen(function*() {
        const fake = yield* backend
        yield* fake.enqueue({
          items: [FakeCodexBackend.message("word ".repeat(200), { chunks: 200 })],
          eventDelay: "20 millis"
        })
        const { openai } = yield* provider
        const seen = yield* call(async () => {
          const controller = new AbortController()
          const result = streamText({ model: modelOf(openai), prompt: "Talk a lot.", abortSignal: controller.signal })
          let text = ""
          try {
            for await (const delta of result.textStream) {
              text += delta
              if (text.length > 0) controller.abort()
            }
          } catch {
            // The SDK may end its stream or raise the abort: either is fine here.
          }
          return text
        })
        assert.isAbove(seen.length, 0)
        // The backend's stream ends without sending the rest: the proxy closed its request.
        let streams = yield* fake.streams
        for (let i = 0; i < 250 && streams.open > 0; i++) {
          yield* Effect.sleep("20 millis")
          streams = yield* fake.streams
        }
        assert.deepStrictEqual(streams, { started: 1, finished: 0, open: 0 })
      }).pipe(Effect.provide(layer())))
  })
}

describe("the AI SDK's Responses provider, set up the other ways the README names", () => {
  const turns = [
    { items: [FakeCodexBackend.reasoning("thinking one"), FakeCodexBackend.message("Answer one.")] },
    { items: [FakeCodexBackend.message("Answer two.")] }
  ]
  const expected = ["user: Question one?", "reasoning: thinking one", "assistant: Answer one.", "user: Question two?"]

  it.live("store: false sends earlier items in full, which needs nothing kept", () =>
    Effect.gen(function*() {
      yield* enqueue(...turns)
      const { openai, sent } = yield* provider
      const providerOptions = { openai: { store: false } }
      const messages: Array<ModelMessage> = [{ role: "user", content: "Question one?" }]
      const first = yield* call(() => generateText({ model: openai("gpt-5.5"), messages, providerOptions }))
      messages.push(...first.response.messages, { role: "user", content: "Question two?" })
      yield* call(() => generateText({ model: openai("gpt-5.5"), messages, providerOptions }))
      assert.notInclude((sent[1]!.input as ReadonlyArray<Item>).map((i) => i.type), "item_reference")
      const [, body] = yield* backendBodies
      assert.deepStrictEqual(transcript(body!.input as ReadonlyArray<Item>), expected)
    }).pipe(Effect.provide(layer())))

  it.live("previousResponseId with only the new message continues the conversation", () =>
    Effect.gen(function*() {
      yield* enqueue(...turns)
      const { openai } = yield* provider
      const first = yield* call(() => generateText({ model: openai("gpt-5.5"), prompt: "Question one?" }))
      const second = yield* call(() =>
        generateText({
          model: openai("gpt-5.5"),
          prompt: "Question two?",
          providerOptions: { openai: { previousResponseId: first.response.id } }
        })
      )
      assert.strictEqual(second.text, "Answer two.")
      const [, body] = yield* backendBodies
      assert.deepStrictEqual(transcript(body!.input as ReadonlyArray<Item>), expected)
    }).pipe(Effect.provide(layer())))
})
