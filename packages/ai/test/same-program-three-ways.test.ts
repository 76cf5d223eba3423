/**
 * One conversation — a question, the model calls a tool, the tool's answer goes
 * back, the model answers — run three ways by swapping layers only:
 *
 * 1. the SubscriptionLLM program with the test layers of @subauth/testing
 *    (fake issuer and backend, memory store, fetch client);
 * 2. the same program with the Node layers (NodeTokenManager, node:http)
 *    against the fake servers, as a CLI wires it;
 * 3. the same conversation written against @effect/ai's LanguageModel,
 *    through SubscriptionLanguageModel.layer.
 *
 * All three get the same answer, and the backend sees the same turns.
 */
import { LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend } from "@subauth/testing"
import { Effect, Layer, Schema } from "effect"
import * as SubscriptionLanguageModel from "../src/SubscriptionLanguageModel.js"
import { bodies, nodeLayers, testLayers } from "./support.js"

const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: { city: Schema.String },
  success: Schema.String
})
const Weather = Toolkit.make(GetWeather)
const weatherIn = (city: string) => `sunny in ${city}`

// The fake model: asked anything, it calls GetWeather; given the tool's output, it answers with it.
const respond = (request: FakeCodexBackend.RequestBody): FakeCodexBackend.Answer => {
  const output = request.input.find((item) => item.type === "function_call_output")
  return output === undefined
    ? { items: [FakeCodexBackend.reasoning("needs the weather"), FakeCodexBackend.functionCall("GetWeather", { city: "Paris" })] }
    : { items: [FakeCodexBackend.message(`The forecast: ${JSON.parse(String(output.output))}.`)] }
}

const SYSTEM = "You are terse."
const QUESTION = "What is the weather in Paris?"

// 1 and 2: the program, written against SubscriptionLLM.
const program = Effect.gen(function*() {
  const first: SubscriptionLLM.Request = {
    system: SYSTEM,
    input: [SubscriptionLLM.userMessage(QUESTION)],
    tools: [{ name: GetWeather.name, description: GetWeather.description!, parameters: Tool.getJsonSchema(GetWeather) }]
  }
  const turn1 = yield* SubscriptionLLM.generate(first)
  const call = turn1.toolCalls[0]!
  const result = weatherIn((JSON.parse(call.arguments) as { city: string }).city)
  const turn2 = yield* SubscriptionLLM.generate({
    ...first,
    input: [...first.input, ...turn1.items, SubscriptionLLM.functionCallOutput(call.callId, JSON.stringify(result))]
  })
  return turn2.text
})

// 3: the same conversation, written against @effect/ai.
const aiProgram = Effect.gen(function*() {
  const prompt = Prompt.make([{ role: "system", content: SYSTEM }, { role: "user", content: QUESTION }])
  const turn1 = yield* LanguageModel.generateText({ prompt, toolkit: Weather })
  const turn2 = yield* LanguageModel.generateText({
    prompt: Prompt.merge(prompt, Prompt.fromResponseParts(turn1.content)),
    toolkit: Weather
  })
  return turn2.text
}).pipe(Effect.provide(Weather.toLayer({ GetWeather: ({ city }) => Effect.succeed(weatherIn(city)) })))

// What the backend saw, without what differs by design: call ids, and what the core program resends verbatim
// (reasoning items, the call's "status") while the @effect/ai path rebuilds items from parts.
const turns = Effect.map(bodies, (all) =>
  all.map((body) => ({
    input: (body.input as Array<Record<string, unknown>>).filter((i) => i.type !== "reasoning").map((i) => {
      const { call_id: _, status: __, ...rest } = i
      return rest
    }),
    tools: body.tools,
    include: body.include,
    store: body.store,
    stream: body.stream
  })))

const run = <E, R>(effect: Effect.Effect<string, E, R>) =>
  Effect.gen(function*() {
    const answer = yield* effect
    return { answer, turns: yield* turns }
  })

describe("the same program, three ways", () => {
  it.live("test layers, Node layers, and @effect/ai: one answer, the same turns at the backend", () =>
    Effect.gen(function*() {
      const viaTestLayers = yield* run(program).pipe(Effect.provide(testLayers({ respond })))
      const viaNodeLayers = yield* run(program).pipe(Effect.provide(nodeLayers({ respond })))
      const viaEffectAi = yield* run(aiProgram).pipe(
        Effect.provide(SubscriptionLanguageModel.layer().pipe(Layer.provideMerge(testLayers({ respond }))))
      )
      assert.strictEqual(viaTestLayers.answer, "The forecast: sunny in Paris.")
      assert.strictEqual(viaNodeLayers.answer, viaTestLayers.answer)
      assert.strictEqual(viaEffectAi.answer, viaTestLayers.answer)
      assert.strictEqual(viaTestLayers.turns.length, 2)
      assert.deepStrictEqual(viaNodeLayers.turns, viaTestLayers.turns)
      assert.deepStrictEqual(viaEffectAi.turns, viaTestLayers.turns)
    }))
})
