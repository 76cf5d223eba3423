import { assert, describe, it } from "@effect/vitest"
import { SubscriptionLLM } from "@subauth/core"
import { Either } from "effect"
import * as ChatCompletions from "../src/ChatCompletions.js"

const { Event } = SubscriptionLLM

const ok = (body: unknown) => Either.getOrThrowWith(ChatCompletions.translate(body), (e) => new Error(e.message))
const fails = (body: unknown) =>
  Either.match(ChatCompletions.translate(body), {
    onLeft: (e) => e,
    onRight: () => assert.fail("expected a RequestError")
  })

describe("ChatCompletions.translate", () => {
  it("every role becomes the backend's items, in order", () => {
    const { request } = ok({
      model: "gpt-5.5",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "developer", content: [{ type: "text", text: "Use JSON." }] },
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
            { type: "file", file: { file_data: "data:application/pdf;base64,BBBB", filename: "a.pdf" } }
          ]
        },
        {
          role: "assistant",
          content: "Let me check.",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{\"q\":1}" } }]
        },
        { role: "tool", tool_call_id: "call_1", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
        { role: "assistant", content: null, tool_calls: [] },
        { role: "user", content: "thanks" }
      ]
    })
    assert.deepStrictEqual(request.input, [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "Be brief." }] },
      { type: "message", role: "developer", content: [{ type: "input_text", text: "Use JSON." }] },
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_text", text: "What is this?" },
          { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "low" },
          { type: "input_file", file_data: "data:application/pdf;base64,BBBB", filename: "a.pdf" }
        ]
      },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me check." }] },
      { type: "function_call", call_id: "call_1", name: "look", arguments: "{\"q\":1}" },
      { type: "function_call_output", call_id: "call_1", output: "a\nb" },
      { type: "message", role: "user", content: [{ type: "input_text", text: "thanks" }] }
    ])
  })

  it("tools, tool_choice, formats, reasoning and the cache key are forwarded; the rest is dropped", () => {
    const translated = ok({
      model: "gpt-5.4",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "f", description: "does f", parameters: { type: "object" }, strict: true } }],
      tool_choice: { type: "function", function: { name: "f" } },
      parallel_tool_calls: false,
      response_format: { type: "json_object" },
      reasoning_effort: "high",
      verbosity: "low",
      service_tier: "priority",
      prompt_cache_key: "conv-1",
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      top_p: 1,
      max_tokens: 5,
      max_completion_tokens: 5,
      stop: ["x"],
      seed: 1,
      logit_bias: {},
      user: "u",
      n: 1,
      presence_penalty: null
    })
    assert.deepStrictEqual(translated.request, {
      model: "gpt-5.4",
      input: [SubscriptionLLM.userMessage("hi")],
      tools: [{ name: "f", description: "does f", parameters: { type: "object" }, strict: true }],
      toolChoice: { type: "function", name: "f" },
      parallelToolCalls: false,
      reasoning: { effort: "high" },
      text: { verbosity: "low", format: { type: "json_schema", name: "json_object", schema: { type: "object" }, strict: false } },
      serviceTier: "priority",
      conversationId: "conv-1"
    })
    assert.isTrue(translated.stream)
    assert.isTrue(translated.includeUsage)
    assert.deepStrictEqual([...translated.dropped].sort(), ["logit_bias", "max_completion_tokens", "max_tokens", "seed", "stop", "temperature", "top_p", "user"])
    const auto = ok({ model: "m", messages: [{ role: "user", content: "hi" }], service_tier: "auto", response_format: { type: "text" } })
    assert.isUndefined(auto.request.serviceTier)
    assert.isUndefined(auto.request.text)
    assert.deepStrictEqual(auto.dropped, ["service_tier"])
    assert.isFalse(auto.stream)
  })

  it("what cannot be honoured is a 400 that names the field", () => {
    const user = (content: unknown) => ({ model: "m", messages: [{ role: "user", content }] })
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [user([{ type: "input_audio", input_audio: {} }]), "messages[0].content[0]", "Unsupported"],
      [user([{ type: "file", file: { file_id: "file-1" } }]), "messages[0].content[0].file.file_id", "Unsupported"],
      [user([{ type: "image_url" }]), "messages[0].content[0]", "InvalidBody"],
      [{ model: "m", messages: [{ role: "function", name: "f", content: "x" }] }, "messages[0]", "Unsupported"],
      [{ model: "m", messages: [{ role: "system", content: [{ type: "image_url" }] }] }, "messages[0].content[0]", "Unsupported"],
      [{ ...user("hi"), n: 3 }, "n", "Unsupported"],
      [{ ...user("hi"), functions: [] }, "functions", "Unsupported"],
      [{ ...user("hi"), modalities: ["text", "audio"] }, "modalities", "Unsupported"],
      [{ ...user("hi"), tools: [{ type: "custom", custom: {} }] }, "tools[0]", "Unsupported"],
      [{ ...user("hi"), tools: [{ type: "function" }] }, "tools[0].function", "InvalidBody"],
      [{ ...user("hi"), tool_choice: { type: "allowed_tools" } }, "tool_choice", "Unsupported"],
      [{ model: "m", messages: [] }, "messages", "InvalidBody"],
      [{ messages: [{ role: "user", content: "hi" }] }, "model", "InvalidBody"],
      [{ model: "m", messages: [{ role: "wizard", content: "hi" }] }, "messages[0].role", "InvalidBody"],
      [{ ...user("hi"), reasoning_effort: "extreme" }, "reasoning_effort", "InvalidBody"]
    ]
    for (const [body, param, reason] of cases) {
      const error = fails(body)
      assert.strictEqual(error.param, param, JSON.stringify(body))
      assert.strictEqual(error.reason, reason, JSON.stringify(body))
    }
  })
})

const meta: ChatCompletions.Meta = { id: "chatcmpl-1", created: 1_800_000_000, model: "gpt-5.5" }

const run = (events: ReadonlyArray<SubscriptionLLM.Event>, includeUsage = false) => {
  const encoder = ChatCompletions.encoder(meta, { includeUsage })
  const text = events.map(encoder.event).join("") + encoder.end()
  const frames = text.split("\n\n").filter((f) => f !== "")
  assert.isTrue(frames.every((f) => f.startsWith("data: ")), text)
  assert.strictEqual(frames[frames.length - 1], "data: [DONE]")
  return frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)) as ChatCompletions.ChatCompletionChunk)
}

const usage: SubscriptionLLM.Usage = { inputTokens: 10, cachedInputTokens: 2, outputTokens: 5, reasoningTokens: 1, totalTokens: 15 }
const message = (text: string): SubscriptionLLM.Item => ({ ...SubscriptionLLM.assistantMessage(text), id: "msg_1" })

describe("ChatCompletions.encoder", () => {
  it("role first, a chunk per delta, finish_reason last, then [DONE]", () => {
    const chunks = run([
      Event.RateLimits({ limits: {} }),
      Event.Created({ responseId: "resp_1", model: "gpt-5.5-2026" }),
      Event.TextDelta({ itemId: "msg_1", delta: "Hel" }),
      Event.TextDelta({ itemId: "msg_1", delta: "lo" }),
      Event.ItemDone({ item: message("Hello") }),
      Event.Completed({ responseId: "resp_1", usage })
    ])
    assert.deepStrictEqual(chunks.map((c) => c.choices[0]!.delta), [{ role: "assistant", content: "" }, { content: "Hel" }, { content: "lo" }, {}])
    assert.deepStrictEqual(chunks.map((c) => c.choices[0]!.finish_reason), [null, null, null, "stop"])
    assert.isTrue(chunks.every((c) => c.id === "chatcmpl-1" && c.model === "gpt-5.5-2026" && c.object === "chat.completion.chunk"))
    assert.isTrue(chunks.every((c) => !("usage" in c)))
  })

  it("include_usage: usage null on every chunk, then one with usage and no choices", () => {
    const chunks = run([Event.TextDelta({ itemId: undefined, delta: "x" }), Event.Completed({ responseId: "r", usage })], true)
    const last = chunks[chunks.length - 1]!
    assert.deepStrictEqual(last.choices, [])
    assert.deepStrictEqual(last.usage, {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 2 },
      completion_tokens_details: { reasoning_tokens: 1 }
    })
    assert.isTrue(chunks.slice(0, -1).every((c) => c.usage === null))
  })

  it("a message that came without deltas is sent whole; tool calls carry their index", () => {
    const chunks = run([
      Event.ItemDone({ item: message("All at once.") }),
      Event.ItemDone({ item: { type: "function_call", call_id: "c1", name: "a", arguments: "{}" } }),
      Event.ToolCall({ call: { callId: "c1", name: "a", arguments: "{}" } }),
      Event.ToolCall({ call: { callId: "c2", name: "b", arguments: "{\"x\":1}" } }),
      Event.Completed({ responseId: "r", usage: undefined })
    ])
    assert.deepStrictEqual(chunks.map((c) => c.choices[0]!.delta), [
      { role: "assistant", content: "" },
      { content: "All at once." },
      { tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "a", arguments: "{}" } }] },
      { tool_calls: [{ index: 1, id: "c2", type: "function", function: { name: "b", arguments: "{\"x\":1}" } }] },
      {}
    ])
    assert.strictEqual(chunks[chunks.length - 1]!.choices[0]!.finish_reason, "tool_calls")
  })

  it("no text before a tool call: the role comes with it and content null, as OpenAI sends it", () => {
    const chunks = run([
      Event.Created({ responseId: "r", model: undefined }),
      Event.ItemDone({ item: { type: "reasoning", id: "rs_1", summary: [] } }),
      Event.ToolCall({ call: { callId: "c1", name: "a", arguments: "{}" } }),
      Event.Completed({ responseId: "r", usage: undefined })
    ])
    assert.deepStrictEqual(chunks.map((c) => c.choices[0]!.delta), [
      { role: "assistant", content: null, tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "a", arguments: "{}" } }] },
      {}
    ])
    const empty = run([Event.Completed({ responseId: "r", usage: undefined })])
    assert.deepStrictEqual(empty.map((c) => [c.choices[0]!.delta, c.choices[0]!.finish_reason]), [[{ role: "assistant", content: null }, "stop"]])
  })

  it("an answer cut short ends with finish_reason length, or content_filter", () => {
    const cut = (reason: string | undefined) =>
      run([Event.TextDelta({ itemId: undefined, delta: "half" }), Event.Incomplete({ responseId: "r", usage, reason })], true)
    const chunks = cut("max_output_tokens")
    assert.strictEqual(chunks[chunks.length - 2]!.choices[0]!.finish_reason, "length")
    assert.strictEqual(chunks[chunks.length - 1]!.usage!.total_tokens, 15)
    assert.strictEqual(cut("content_filter").at(-2)!.choices[0]!.finish_reason, "content_filter")
    assert.strictEqual(cut(undefined).at(-2)!.choices[0]!.finish_reason, "length")
  })

  it("a failure is one error line", () => {
    const encoder = ChatCompletions.encoder(meta, { includeUsage: false })
    const error = { message: "m", type: "server_error", param: null, code: "bad_gateway" }
    assert.strictEqual(encoder.failure(error), `data: ${JSON.stringify({ error })}\n\n`)
  })
})

describe("ChatCompletions.completionOf", () => {
  it("text, or null content with tool calls", () => {
    const text = ChatCompletions.completionOf({ responseId: "r", items: [], text: "hi", toolCalls: [], usage }, meta)
    assert.strictEqual(text.choices[0]!.message.content, "hi")
    assert.strictEqual(text.choices[0]!.finish_reason, "stop")
    assert.strictEqual(text.usage.total_tokens, 15)
    assert.notProperty(text.choices[0]!.message, "tool_calls")
    const calls = ChatCompletions.completionOf(
      { responseId: "r", model: "gpt-x", items: [], text: "", toolCalls: [{ callId: "c", name: "f", arguments: "{}" }] },
      meta
    )
    assert.isNull(calls.choices[0]!.message.content)
    assert.strictEqual(calls.choices[0]!.finish_reason, "tool_calls")
    assert.strictEqual(calls.model, "gpt-x")
    assert.strictEqual(calls.usage.total_tokens, 0)
  })
})
