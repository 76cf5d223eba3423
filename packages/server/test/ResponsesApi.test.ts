import { assert, describe, it } from "@effect/vitest"
import { SubscriptionLLM } from "@subauth/core"
import { Either } from "effect"
import type OpenAI from "openai"
import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator"
import * as ResponsesApi from "../src/ResponsesApi.js"

const { Event } = SubscriptionLLM

const ok = (body: unknown) => Either.getOrThrowWith(ResponsesApi.translate(body), (e) => new Error(e.message))

describe("ResponsesApi.translate", () => {
  it("the backend's rules: instructions as a developer message, easy messages as items, the rest dropped", () => {
    const translated = ok({
      model: "gpt-5.5",
      instructions: "Be terse.",
      input: [
        { role: "system", content: "sys" },
        { role: "user", content: "hi" },
        { type: "message", role: "assistant", content: "hello" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "parts" }] },
        { id: "fc_1", type: "function_call", call_id: "c", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "c", output: "done" }
      ],
      tools: [{ type: "function", name: "f", parameters: { type: "object" }, strict: true }],
      tool_choice: { type: "function", name: "f" },
      reasoning: { effort: "high", summary: "detailed" },
      text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true }, verbosity: "high" },
      service_tier: "flex",
      prompt_cache_key: "conv",
      store: true,
      stream: true,
      include: ["reasoning.encrypted_content"],
      temperature: 1,
      max_output_tokens: 10,
      metadata: { a: "b" },
      truncation: "auto"
    })
    assert.deepStrictEqual(translated.request, {
      model: "gpt-5.5",
      system: "Be terse.",
      input: [
        { type: "message", role: "system", content: [{ type: "input_text", text: "sys" }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "hello" }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "parts" }] },
        { id: "fc_1", type: "function_call", call_id: "c", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "c", output: "done" }
      ],
      tools: [{ name: "f", parameters: { type: "object" }, strict: true }],
      toolChoice: { type: "function", name: "f" },
      reasoning: { effort: "high", summary: "detailed" },
      text: { verbosity: "high", format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true } },
      serviceTier: "flex",
      conversationId: "conv"
    })
    assert.isTrue(translated.stream)
    assert.deepStrictEqual([...translated.dropped].sort(), ["include", "max_output_tokens", "metadata", "store", "temperature", "truncation"])
    assert.strictEqual(translated.echo.instructions, "Be terse.")
    assert.deepStrictEqual(ok({ model: "m", input: "hi" }).request.input, [SubscriptionLLM.userMessage("hi")])
  })

  it("what needs stored state or other tools is a 400 that names the field", () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [{ conversation: "conv_1" }, "conversation"],
      [{ background: true }, "background"],
      [{ prompt: { id: "pmpt_1" } }, "prompt"],
      [{ tools: [{ type: "web_search" }] }, "tools[0]"],
      [{ tools: [{ type: "function" }] }, "tools[0].name"],
      [{ tool_choice: { type: "file_search" } }, "tool_choice"],
      [{ input: [{ content: "no role" }] }, "input[0].role"],
      [{ input: [{ role: "user", content: 3 }] }, "input[0].content"],
      [{ input: 3 }, "input"]
    ]
    for (const [extra, param] of cases) {
      const result = ResponsesApi.translate({ model: "m", input: "hi", ...extra })
      assert.isTrue(Either.isLeft(result), param)
      if (Either.isLeft(result)) assert.strictEqual(result.left.param, param)
    }
  })

  it("previous_response_id is carried to the proxy, which resolves it from its item store", () => {
    const result = ResponsesApi.translate({ model: "m", input: "hi", previous_response_id: "resp_1" })
    assert.strictEqual(Either.getOrThrow(result).previousResponseId, "resp_1")
    assert.isUndefined(Either.getOrThrow(ResponsesApi.translate({ model: "m", input: "hi", previous_response_id: null })).previousResponseId)
  })
})

const meta: ResponsesApi.Meta = {
  id: "resp_local",
  createdAt: 1_800_000_000,
  model: "gpt-5.5",
  echo: { instructions: null, tools: [], tool_choice: "auto", parallel_tool_calls: true, store: false, metadata: {} }
}

const usage: SubscriptionLLM.Usage = { inputTokens: 3, cachedInputTokens: 0, outputTokens: 4, reasoningTokens: 1, totalTokens: 7 }

/** The SSE events of a turn, checked for framing, then folded with the openai SDK's own accumulator. */
const run = (events: ReadonlyArray<SubscriptionLLM.Event>, failure?: Parameters<ReturnType<typeof ResponsesApi.encoder>["failure"]>[0]) => {
  const encoder = ResponsesApi.encoder(meta)
  const text = events.map(encoder.event).join("") + (failure !== undefined ? encoder.failure(failure) : encoder.end())
  const parsed = text.split("\n\n").filter((f) => f !== "").map((frame) => {
    const [event, data] = frame.split("\n")
    const json = JSON.parse(data!.slice("data: ".length)) as OpenAI.Responses.ResponseStreamEvent
    assert.strictEqual(event, `event: ${json.type}`)
    return json
  })
  assert.deepStrictEqual(parsed.map((e) => e.sequence_number), parsed.map((_, i) => i))
  let snapshot: OpenAI.Responses.Response | undefined
  for (const event of parsed) snapshot = accumulateResponse(event, snapshot)
  return { types: parsed.map((e) => e.type), events: parsed, snapshot: snapshot! }
}

const msg: SubscriptionLLM.Item = {
  id: "msg_9",
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", annotations: [], text: "Hi there" }]
}
const rs: SubscriptionLLM.Item = { id: "rs_9", type: "reasoning", summary: [{ type: "summary_text", text: "plan" }], encrypted_content: "enc" }
const fc: SubscriptionLLM.Item = { id: "fc_9", type: "function_call", status: "completed", call_id: "call_9", name: "f", arguments: "{\"a\":1}" }

describe("ResponsesApi.encoder", () => {
  it("a streamed turn is a well-formed event sequence the SDK accumulates into the backend's items", () => {
    const { types, snapshot } = run([
      Event.RateLimits({ limits: {} }),
      Event.Created({ responseId: "resp_9", model: "gpt-5.5" }),
      Event.ReasoningSummaryDelta({ itemId: "rs_9", summaryIndex: 0, delta: "pl" }),
      Event.ReasoningSummaryDelta({ itemId: "rs_9", summaryIndex: 0, delta: "an" }),
      Event.ItemDone({ item: rs }),
      Event.TextDelta({ itemId: "msg_9", delta: "Hi " }),
      Event.TextDelta({ itemId: "msg_9", delta: "there" }),
      Event.ItemDone({ item: msg }),
      Event.ItemDone({ item: fc }),
      Event.ToolCall({ call: { callId: "call_9", name: "f", arguments: "{\"a\":1}" } }),
      Event.Completed({ responseId: "resp_9", usage })
    ])
    assert.deepStrictEqual(types, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed"
    ])
    assert.strictEqual(snapshot.id, "resp_9")
    assert.strictEqual(snapshot.status, "completed")
    assert.deepStrictEqual(snapshot.output, [rs, msg, fc] as unknown)
    assert.strictEqual(snapshot.output_text, "Hi there")
    assert.strictEqual(snapshot.usage!.total_tokens, 7)
  })

  it("the smallest stream (no created, no deltas) still makes a complete sequence", () => {
    const { types, snapshot, events } = run([Event.ItemDone({ item: msg }), Event.Completed({ responseId: "resp_9", usage: undefined })])
    assert.deepStrictEqual(types.slice(0, 2), ["response.created", "response.in_progress"])
    assert.include(types, "response.output_text.delta")
    assert.strictEqual(snapshot.output_text, "Hi there")
    assert.strictEqual((events[0] as OpenAI.Responses.ResponseCreatedEvent).response.id, "resp_local")
  })

  it("a failure is a response.failed carrying the error and what was finished", () => {
    const { types, snapshot } = run([Event.TextDelta({ itemId: undefined, delta: "Hi" }), Event.ItemDone({ item: msg })], {
      message: "the model failed",
      type: "server_error",
      param: null,
      code: "server_error"
    })
    assert.strictEqual(types[types.length - 1], "response.failed")
    assert.strictEqual(snapshot.status, "failed")
    assert.deepStrictEqual(snapshot.error, { code: "server_error", message: "the model failed" } as unknown)
    assert.deepStrictEqual(snapshot.output, [msg] as unknown)
  })
})

describe("ResponsesApi.responseOf", () => {
  it("the collected items, usage and what the request set", () => {
    const response = ResponsesApi.responseOf({ responseId: "resp_9", items: [msg, fc], text: "Hi there", toolCalls: [], usage }, meta)
    assert.strictEqual(response.object, "response")
    assert.strictEqual(response.id, "resp_9")
    assert.deepStrictEqual(response.output, [msg, fc])
    assert.strictEqual(response.usage!.output_tokens_details.reasoning_tokens, 1)
    assert.strictEqual(response.store, false)
  })
})
