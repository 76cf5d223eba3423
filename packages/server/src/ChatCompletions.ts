/**
 * OpenAI's Chat Completions API on top of the Codex backend's Responses
 * stream: the request body as OpenAI clients send it, its translation into a
 * `SubscriptionLLM.Request`, and the answer as a `chat.completion` object or
 * as `chat.completion.chunk`s ending with `data: [DONE]`; an answer the
 * backend cut short is the partial answer with `finish_reason: "length"` (or
 * `"content_filter"`).
 *
 * Translation (pure, tested without a server):
 * - `system` and `developer` messages become `developer` messages, in place
 *   (Codex CLI 0.169 sends its prompts so); `user` content parts become
 *   `input_text` / `input_image` / `input_file`; `assistant` text becomes an
 *   assistant message and its `tool_calls` become `function_call` items;
 *   `tool` messages become `function_call_output`s of their call.
 * - `tools` (function tools) and `tool_choice` map one to one;
 *   `response_format` `json_schema` becomes `text.format`, `json_object`
 *   becomes a schema of any object; `reasoning_effort` and `verbosity` map to
 *   `reasoning.effort` and `text.verbosity`; `prompt_cache_key` keeps a
 *   conversation's cache key.
 * - Everything else OpenAI accepts (`temperature`, `top_p`, `max_tokens`,
 *   `max_completion_tokens`, `stop`, `seed`, `logit_bias`, `logprobs`, `user`,
 *   `metadata`, `store`, …) is accepted and dropped: the backend rejects or
 *   ignores it. What cannot be honoured and would change the answer's shape
 *   (`n > 1`, audio output, the legacy `functions`) is a 400.
 *
 * @since 0.1.0
 */
import { CodexWire, SubscriptionLLM } from "@subauth/core"
import { Either, Option, Schema } from "effect"
import { decode, invalid, Part, type Result, type Translation, unsupported } from "./internal/body.js"
import * as Sse from "./internal/sse.js"
import { formatOf, type JsonSchemaTextFormat, ResponseFormat, serviceTierOf } from "./internal/translate.js"
import type { OpenAIError, RequestError } from "./ProxyError.js"

// =============================================================================
// Request (wire)
// =============================================================================

// Content parts and tools are checked one by one during translation, for errors that say what is unsupported.
const Content = Schema.Union(Schema.String, Schema.Array(Part))

const ToolCallWire = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.NullOr(Schema.Literal("function"))),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

/**
 * One message of `messages`, discriminated by `role`.
 *
 * @since 0.1.0
 * @category schemas
 */
// One member per role, so that a role none of them has is answered with every role there is.
// Optional fields take an explicit `null` wherever OpenAI's API does.
const Name = Schema.optional(Schema.NullOr(Schema.String))

export const Message = Schema.Union(
  Schema.Struct({ role: Schema.Literal("system"), content: Content, name: Name }),
  Schema.Struct({ role: Schema.Literal("developer"), content: Content, name: Name }),
  Schema.Struct({ role: Schema.Literal("user"), content: Content, name: Name }),
  Schema.Struct({
    role: Schema.Literal("assistant"),
    content: Schema.optional(Schema.NullOr(Content)),
    tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCallWire))),
    refusal: Schema.optional(Schema.NullOr(Schema.String)),
    name: Name,
    audio: Schema.optional(Schema.Unknown),
    function_call: Schema.optional(Schema.Unknown)
  }),
  Schema.Struct({ role: Schema.Literal("tool"), tool_call_id: Schema.String, content: Content }),
  Schema.Struct({ role: Schema.Literal("function"), name: Schema.String, content: Schema.NullOr(Schema.String) })
)

/**
 * @since 0.1.0
 * @category schemas
 */
export type Message = typeof Message.Type

const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: Schema.optional(Schema.NullOr(Schema.String)),
    parameters: Schema.optional(Schema.Unknown),
    strict: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
})

const ToolChoiceWire = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) }),
  Part
)

/**
 * The fields of `POST /v1/chat/completions` the proxy reads. Any other field is
 * accepted and dropped (see the module's description).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({ include_usage: Schema.optional(Schema.NullOr(Schema.Boolean)) }))),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Part))),
  tool_choice: Schema.optional(Schema.NullOr(ToolChoiceWire)),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  response_format: Schema.optional(Schema.NullOr(ResponseFormat)),
  reasoning_effort: Schema.optional(Schema.NullOr(Schema.Literal("none", "minimal", "low", "medium", "high", "xhigh"))),
  verbosity: Schema.optional(Schema.NullOr(Schema.Literal("low", "medium", "high"))),
  service_tier: Schema.optional(Schema.NullOr(Schema.String)),
  prompt_cache_key: Schema.optional(Schema.NullOr(CodexWire.SessionId)),
  n: Schema.optional(Schema.NullOr(Schema.Int)),
  modalities: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  functions: Schema.optional(Schema.Unknown),
  function_call: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type


// =============================================================================
// Request → SubscriptionLLM.Request (pure)
// =============================================================================

/**
 * A translated request: what to send, how to answer, and the fields that
 * were accepted but not forwarded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Translated extends Translation {
  /** `stream_options.include_usage`: a last chunk with `usage`. */
  readonly includeUsage: boolean
}

const textOf = (content: typeof Content.Type, param: string): Result<ReadonlyArray<string>> =>
  typeof content === "string"
    ? Either.right([content])
    : Either.all(content.map((part, i) =>
      part.type === "text" && typeof part.text === "string"
        ? Either.right(part.text)
        : part.type === "refusal" && typeof part.refusal === "string"
        ? Either.right(part.refusal)
        : Either.left(unsupported(`${param}[${i}]`, `content parts of type "${part.type}" are not supported in this message`))
    ))

const userPart = (part: typeof Part.Type, param: string): Result<CodexWire.Item> => {
  switch (part.type) {
    case "text":
      if (typeof part.text === "string") return Either.right({ type: "input_text", text: part.text })
      break
    case "image_url": {
      const image = part.image_url as { readonly url?: unknown; readonly detail?: unknown } | undefined
      if (typeof image?.url === "string") {
        return Either.right({
          type: "input_image",
          image_url: image.url,
          ...(typeof image.detail === "string" ? { detail: image.detail } : {})
        })
      }
      break
    }
    case "file": {
      const file = part.file as { readonly file_data?: unknown; readonly file_id?: unknown; readonly filename?: unknown } | undefined
      if (typeof file?.file_data === "string") {
        return Either.right({
          type: "input_file",
          file_data: file.file_data,
          ...(typeof file.filename === "string" ? { filename: file.filename } : {})
        })
      }
      if (typeof file?.file_id === "string") {
        return Either.left(unsupported(`${param}.file.file_id`, "uploaded files (file_id) are not available"))
      }
      break
    }
    case "input_audio":
      return Either.left(unsupported(param, "audio input is not supported"))
    default:
      return Either.left(unsupported(param, `content parts of type "${part.type}" are not supported`))
  }
  return Either.left(invalid(param, `a "${part.type}" part is missing its content`))
}

const inputText = (text: string): CodexWire.Item => ({ type: "input_text", text })

const messageItems = (message: Message, param: string): Result<ReadonlyArray<CodexWire.Item>> => {
  switch (message.role) {
    case "system":
    case "developer":
      return Either.map(textOf(message.content, `${param}.content`), (texts) => [
        { type: "message", role: "developer", content: texts.map(inputText) }
      ])
    case "user":
      return Either.map(
        typeof message.content === "string"
          ? Either.right([inputText(message.content)])
          : Either.all(message.content.map((part, i) => userPart(part, `${param}.content[${i}]`))),
        (content) => [{ type: "message", role: "user", content }]
      )
    case "assistant":
      return Either.map(
        message.content == null ? Either.right([]) : textOf(message.content, `${param}.content`),
        (texts) => {
          const text = texts.join("")
          return [
            ...(text !== "" ? [SubscriptionLLM.assistantMessage(text)] : []),
            ...(message.tool_calls ?? []).map((call): CodexWire.Item => ({
              type: "function_call",
              call_id: call.id,
              name: call.function.name,
              arguments: call.function.arguments
            }))
          ]
        }
      )
    case "tool":
      return Either.map(
        textOf(message.content, `${param}.content`),
        (texts) => [SubscriptionLLM.functionCallOutput(message.tool_call_id, texts.join("\n"))]
      )
    case "function":
      return Either.left(unsupported(param, `the legacy "function" role is not supported; use "tool" messages with "tool_calls"`))
  }
}

const decodeFunctionTool = Schema.decodeUnknownOption(FunctionTool)

const toolOf = (tool: typeof Part.Type, i: number): Result<SubscriptionLLM.Tool> => {
  if (tool.type !== "function") {
    return Either.left(unsupported(`tools[${i}]`, `tools of type "${tool.type}" are not supported; only "function"`))
  }
  const decoded = decodeFunctionTool(tool)
  if (Option.isNone(decoded)) return Either.left(invalid(`tools[${i}].function`, "a function tool needs \"function.name\""))
  const f = decoded.value.function
  return Either.right({
    name: f.name,
    ...(f.description != null ? { description: f.description } : {}),
    parameters: f.parameters ?? { type: "object", properties: {} },
    ...(f.strict != null ? { strict: f.strict } : {})
  })
}

const toolChoiceOf = (choice: typeof ToolChoiceWire.Type): Result<SubscriptionLLM.ToolChoice> => {
  if (typeof choice === "string") return Either.right(choice)
  if (choice.type === "function" && typeof choice.function === "object" && choice.function !== null) {
    const name = (choice.function as { readonly name?: unknown }).name
    if (typeof name === "string") return Either.right({ type: "function", name })
  }
  return Either.left(unsupported("tool_choice", `a tool choice of type "${choice.type}" is not supported`))
}

/**
 * `formatOf(format)`: `response_format` as the backend's `text.format`
 * (`json_schema` as it is, `strict` defaulting to false as in OpenAI's API;
 * `json_object` as a schema that any object satisfies).
 * `serviceTierOf(tier)`: the tiers the backend takes (`priority`, `flex`);
 * any other value (`auto`, `default`) means "the default" and is not sent.
 *
 * @since 0.1.0
 * @category utils
 */
export { formatOf, type JsonSchemaTextFormat, serviceTierOf }

const check = (holds: boolean, error: () => RequestError): Result<void> => (holds ? Either.void : Either.left(error()))

/**
 * Decodes a request body and translates it, or says what is wrong with it.
 *
 * @since 0.1.0
 * @category utils
 */
export const translate = (json: unknown): Result<Translated> =>
  Either.gen(function*() {
    const { body, ignored } = yield* decode(ChatCompletionRequest, json)
    yield* check(body.messages.length > 0, () => invalid("messages", "at least one message is needed"))
    yield* check(body.n == null || body.n === 1, () => unsupported("n", "only one choice (\"n\": 1) can be generated"))
    yield* check(!body.modalities?.includes("audio"), () => unsupported("modalities", "audio output is not supported"))
    yield* check(
      body.functions == null && body.function_call == null,
      () => unsupported(body.functions != null ? "functions" : "function_call", "the legacy functions API is not supported; use \"tools\"")
    )
    const input = (yield* Either.all(body.messages.map((message, i) => messageItems(message, `messages[${i}]`)))).flat()
    const tools = body.tools != null ? yield* Either.all(body.tools.map(toolOf)) : undefined
    const toolChoice = body.tool_choice != null ? yield* toolChoiceOf(body.tool_choice) : undefined
    const format = body.response_format != null ? formatOf(body.response_format) : undefined
    const text = format !== undefined || body.verbosity != null
      ? { ...(body.verbosity != null ? { verbosity: body.verbosity } : {}), ...(format !== undefined ? { format } : {}) }
      : undefined
    const serviceTier = serviceTierOf(body.service_tier)
    const request: Translated["request"] = {
      model: body.model,
      input,
      ...(tools !== undefined ? { tools } : {}),
      ...(toolChoice !== undefined ? { toolChoice } : {}),
      ...(body.parallel_tool_calls != null ? { parallelToolCalls: body.parallel_tool_calls } : {}),
      ...(body.reasoning_effort != null ? { reasoning: { effort: body.reasoning_effort } } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(serviceTier !== undefined ? { serviceTier } : {}),
      ...(body.prompt_cache_key != null ? { conversationId: body.prompt_cache_key } : {})
    }
    const dropped = [...ignored, ...(body.service_tier != null && serviceTier === undefined ? ["service_tier"] : [])]
    return { request, stream: body.stream === true, includeUsage: body.stream_options?.include_usage === true, dropped }
  })

// =============================================================================
// Answers (wire)
// =============================================================================

/**
 * What every answer of one request shares.
 *
 * @since 0.1.0
 * @category models
 */
export interface Meta {
  /** `chatcmpl-…`. */
  readonly id: string
  /** Unix seconds. */
  readonly created: number
  readonly model: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly prompt_tokens_details: { readonly cached_tokens: number }
  readonly completion_tokens_details: { readonly reasoning_tokens: number }
}

/**
 * A `chat.completion` object.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletion {
  readonly id: string
  readonly object: "chat.completion"
  readonly created: number
  readonly model: string
  readonly choices: ReadonlyArray<{
    readonly index: 0
    readonly message: {
      readonly role: "assistant"
      readonly content: string | null
      readonly refusal: null
      readonly tool_calls?: ReadonlyArray<ToolCall>
    }
    readonly logprobs: null
    readonly finish_reason: FinishReason
  }>
  readonly usage: Usage
}

/**
 * Why an answer ended: `length` (or `content_filter`) when the backend cut it
 * short (`response.incomplete`), as OpenAI says it.
 *
 * @since 0.1.0
 * @category models
 */
export type FinishReason = "stop" | "tool_calls" | "length" | "content_filter"

/**
 * The `finish_reason` of an answer: an incomplete one's reason first.
 *
 * @since 0.1.0
 * @category utils
 */
export const finishReasonOf = (incomplete: SubscriptionLLM.Incomplete | undefined, toolCalls: number): FinishReason =>
  incomplete !== undefined
    ? incomplete.reason === "content_filter" ? "content_filter" : "length"
    : toolCalls > 0
    ? "tool_calls"
    : "stop"

/**
 * A `chat.completion.chunk` object.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletionChunk {
  readonly id: string
  readonly object: "chat.completion.chunk"
  readonly created: number
  readonly model: string
  readonly choices: ReadonlyArray<{
    readonly index: 0
    readonly delta: {
      readonly role?: "assistant"
      readonly content?: string | null
      readonly tool_calls?: ReadonlyArray<ToolCall & { readonly index: number }>
    }
    readonly logprobs: null
    readonly finish_reason: FinishReason | null
  }>
  readonly usage?: Usage | null
}

/**
 * `usage` in Chat Completions' words (zeros when the backend sent none).
 *
 * @since 0.1.0
 * @category utils
 */
export const usageOf = (usage: SubscriptionLLM.Usage | undefined): Usage => ({
  prompt_tokens: usage?.inputTokens ?? 0,
  completion_tokens: usage?.outputTokens ?? 0,
  total_tokens: usage?.totalTokens ?? 0,
  prompt_tokens_details: { cached_tokens: usage?.cachedInputTokens ?? 0 },
  completion_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 }
})

const toolCallOf = (call: SubscriptionLLM.ToolCall): ToolCall => ({
  id: call.callId,
  type: "function",
  function: { name: call.name, arguments: call.arguments }
})

/**
 * The `chat.completion` of a finished turn.
 *
 * @since 0.1.0
 * @category utils
 */
export const completionOf = (result: SubscriptionLLM.Result, meta: Meta): ChatCompletion => ({
  id: meta.id,
  object: "chat.completion",
  created: meta.created,
  model: result.model ?? meta.model,
  choices: [{
    index: 0,
    message: {
      role: "assistant",
      content: result.text === "" && result.toolCalls.length > 0 ? null : result.text,
      refusal: null,
      ...(result.toolCalls.length > 0 ? { tool_calls: result.toolCalls.map(toolCallOf) } : {})
    },
    logprobs: null,
    finish_reason: finishReasonOf(result.incomplete, result.toolCalls.length)
  }],
  usage: usageOf(result.usage)
})

/**
 * The chunks of a streaming turn, as SSE, as OpenAI sends them: the role
 * first, with `content: ""` before text and `content: null` when no text
 * comes (in the first tool call's chunk, or alone); one chunk per text delta
 * (or the whole text of a message that came without deltas), one per tool
 * call (name and arguments at once), a last one with `finish_reason`
 * (`length` or `content_filter` for an answer the backend cut short); with
 * `includeUsage`, a final chunk with `usage` and no choices (and `usage: null`
 * on the others); then `data: [DONE]`. A failure is one `data: {"error": …}`
 * line, which OpenAI's SDKs raise as an error.
 *
 * @since 0.1.0
 * @category utils
 */
export const encoder = (meta: Meta, options: { readonly includeUsage: boolean }): Sse.Encoder => {
  let model = meta.model
  let started = false
  let toolCalls = 0
  let deltasInMessage = false
  const chunk = (
    delta: ChatCompletionChunk["choices"][number]["delta"],
    finish: ChatCompletionChunk["choices"][number]["finish_reason"] = null
  ): ChatCompletionChunk => ({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(options.includeUsage ? { usage: null } : {})
  })
  // The role goes out with what comes first: text (`content: ""` before it), or not (`content: null`), so
  // that a client does not open an empty text part before a tool call.
  const role = (content: "" | null) => {
    if (started) return {}
    started = true
    return { role: "assistant", content } as const
  }
  const text = (delta: string) => {
    const head = role("")
    return (Object.keys(head).length > 0 ? Sse.data(chunk(head)) : "") + Sse.data(chunk({ content: delta }))
  }
  const last = (finish: FinishReason, usage: SubscriptionLLM.Usage | undefined) =>
    Sse.data(chunk({ ...role(null) }, finish)) +
    (options.includeUsage
      ? Sse.data({ id: meta.id, object: "chat.completion.chunk", created: meta.created, model, choices: [], usage: usageOf(usage) })
      : "")
  return {
    event: (event) => {
      switch (event._tag) {
        case "Created":
          if (event.model !== undefined) model = event.model
          return ""
        case "TextDelta":
          deltasInMessage = true
          return event.delta === "" ? "" : text(event.delta)
        case "ItemDone": {
          const whole = CodexWire.assistantText(event.item)
          if (Option.isNone(whole)) return ""
          const unsent = !deltasInMessage && whole.value !== ""
          deltasInMessage = false
          return unsent ? text(whole.value) : ""
        }
        case "ToolCall":
          return Sse.data(chunk({ ...role(null), tool_calls: [{ index: toolCalls++, ...toolCallOf(event.call) }] }))
        case "Completed":
          return last(finishReasonOf(undefined, toolCalls), event.usage)
        case "Incomplete":
          return last(finishReasonOf({ reason: event.reason }, toolCalls), event.usage)
        default:
          return ""
      }
    },
    failure: (error: OpenAIError) => Sse.data({ error }),
    end: () => "data: [DONE]\n\n"
  }
}
