/**
 * An `@effect/ai` `LanguageModel` backed by a ChatGPT subscription: the
 * `SubscriptionLLM` of `@subauth/core` (the Codex backend) in place of an API
 * key. An Effect AI program switches by swapping this one Layer.
 *
 * - `generateText` works although the backend only streams: the stream is
 *   collected from `response.output_item.done`.
 * - Tool calls round-trip: `function_call` items become `tool-call` parts;
 *   tool results go back as `function_call_output` items with the call.
 * - System messages travel as `developer` messages, as Codex CLI 0.169 sends
 *   its prompts. Reasoning parts carry the item's `encrypted_content` in
 *   `metadata.subauth` (and are resent from `options.subauth`), since with
 *   `store: false` that is the only way to continue a reasoning turn;
 *   reasoning without it is dropped, not resent.
 * - An answer the backend ends early (`response.incomplete`) finishes with
 *   reason `"length"` (or `"content-filter"`), its text kept.
 * - Failures are `AiError.UnknownError` whose `cause` is the typed subauth error
 *   (`UsageLimitReached`, `ResponseError`, `TransportError`, `ReauthRequired`…).
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as AiModel from "@effect/ai/Model"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import { CodexWire, SubscriptionLLM } from "@subauth/core"
import { Context, Effect, Encoding, Layer, Option, Schema, Stream } from "effect"

declare module "@effect/ai/Prompt" {
  export interface ReasoningPartOptions extends ProviderOptions {
    readonly subauth?: {
      /** The reasoning item's `encrypted_content`, which lets the backend continue it. */
      readonly encryptedContent?: string | undefined
    } | undefined
  }
}

declare module "@effect/ai/Response" {
  export interface ReasoningPartMetadata extends ProviderMetadata {
    readonly subauth?: { readonly itemId?: string | undefined; readonly encryptedContent?: string | undefined } | undefined
  }
  export interface ReasoningEndPartMetadata extends ProviderMetadata {
    readonly subauth?: { readonly itemId?: string | undefined; readonly encryptedContent?: string | undefined } | undefined
  }
  export interface FinishPartMetadata extends ProviderMetadata {
    readonly subauth?: { readonly rateLimits?: SubscriptionLLM.RateLimits | undefined } | undefined
  }
}

const MODULE = "SubscriptionLanguageModel"

/**
 * Request settings: those of `SubscriptionLLM.Request` that are not the
 * prompt, tools or format. Sampling parameters are accepted and dropped (the
 * backend rejects them).
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = Omit<SubscriptionLLM.Request, "input" | "tools" | "toolChoice" | "system">

/**
 * Settings for the requests made in an effect, over the layer's.
 *
 * @since 0.1.0
 * @category tags
 */
export class Config extends Context.Tag("@subauth/ai/SubscriptionLanguageModel/Config")<Config, Settings>() {}

/**
 * Runs `effect` with these settings over the layer's (and any outer override).
 *
 * @since 0.1.0
 * @category utils
 */
export const withConfigOverride = (overrides: Settings) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.serviceOption(Config),
    (outer) => Effect.provideService(effect, Config, { ...Option.getOrUndefined(outer), ...overrides })
  )

// --- prompt → input items --------------------------------------------------------------------------

const malformed = (method: string, description: string) => new AiError.MalformedInput({ module: MODULE, method, description })

const userContent = (part: Prompt.UserMessagePart): Effect.Effect<Record<string, unknown>, AiError.MalformedInput> => {
  if (part.type === "text") return Effect.succeed({ type: "input_text", text: part.text })
  if (!part.mediaType.startsWith("image/")) {
    return Effect.fail(malformed("prepareInput", `files of type "${part.mediaType}" are not supported; only images`))
  }
  const mediaType = part.mediaType === "image/*" ? "image/jpeg" : part.mediaType
  const url = part.data instanceof URL
    ? part.data.toString()
    : part.data instanceof Uint8Array
    ? `data:${mediaType};base64,${Encoding.encodeBase64(part.data)}`
    : part.data.startsWith("data:") || /^https?:\/\//.test(part.data)
    ? part.data
    : `data:${mediaType};base64,${part.data}`
  return Effect.succeed({ type: "input_image", image_url: url })
}

/**
 * The backend's input items for a prompt.
 *
 * @since 0.1.0
 * @category utils
 */
export const prepareInput = (prompt: Prompt.Prompt): Effect.Effect<Array<SubscriptionLLM.Item>, AiError.MalformedInput> =>
  Effect.gen(function*() {
    const items: Array<SubscriptionLLM.Item> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system":
          items.push(SubscriptionLLM.developerMessage(message.content))
          break
        case "user":
          items.push({ type: "message", role: "user", content: yield* Effect.forEach(message.content, userContent) })
          break
        case "assistant":
          for (const part of message.content) {
            if (part.type === "text") items.push(SubscriptionLLM.assistantMessage(part.text))
            else if (part.type === "reasoning") {
              const encrypted = part.options.subauth?.encryptedContent
              if (encrypted !== undefined) {
                items.push({
                  type: "reasoning",
                  summary: part.text.length > 0 ? [{ type: "summary_text", text: part.text }] : [],
                  encrypted_content: encrypted
                })
              }
            } else if (part.type === "tool-call" && !part.providerExecuted) {
              items.push({ type: "function_call", call_id: part.id, name: part.name, arguments: JSON.stringify(part.params) })
            }
          }
          break
        case "tool":
          for (const part of message.content) {
            items.push(SubscriptionLLM.functionCallOutput(part.id, JSON.stringify(part.result)))
          }
          break
      }
    }
    return items
  })

const prepareTools = (options: LanguageModel.ProviderOptions) =>
  Effect.gen(function*() {
    const tools: Array<SubscriptionLLM.Tool> = []
    for (const tool of options.tools) {
      if (!Tool.isUserDefined(tool)) {
        return yield* malformed("prepareTools", `provider-defined tool "${tool.name}" is not supported by the Codex backend`)
      }
      const description = Tool.getDescription(tool as any)
      tools.push({
        name: tool.name,
        ...(description !== undefined ? { description } : {}),
        parameters: Tool.getJsonSchema(tool as any)
      })
    }
    const choice = options.toolChoice
    const toolChoice: SubscriptionLLM.ToolChoice = typeof choice === "string"
      ? choice
      : "tool" in choice
      ? { type: "function", name: choice.tool }
      : choice.mode === "required"
      ? "required"
      : "auto"
    return { tools, toolChoice }
  })

/**
 * The `SubscriptionLLM` request for `@effect/ai`'s provider options.
 *
 * @since 0.1.0
 * @category utils
 */
export const makeRequest = (
  options: LanguageModel.ProviderOptions,
  settings: Settings
): Effect.Effect<SubscriptionLLM.Request, AiError.MalformedInput> =>
  Effect.gen(function*() {
    const input = yield* prepareInput(options.prompt)
    const { toolChoice, tools } = yield* prepareTools(options)
    const format = options.responseFormat.type === "json"
      ? {
        format: {
          type: "json_schema" as const,
          name: options.responseFormat.objectName,
          schema: Tool.getJsonSchemaFromSchemaAst(options.responseFormat.schema.ast),
          strict: false
        }
      }
      : undefined
    const text = format === undefined ? settings.text : { ...settings.text, ...format }
    return {
      ...settings,
      input,
      tools,
      toolChoice,
      ...(text !== undefined ? { text } : {})
    }
  })

// --- results → response parts -----------------------------------------------------------------------

const usageOf = (usage: SubscriptionLLM.Usage | undefined): typeof Response.Usage.Encoded => ({
  inputTokens: usage?.inputTokens,
  outputTokens: usage?.outputTokens,
  totalTokens: usage?.totalTokens,
  ...(usage !== undefined ? { reasoningTokens: usage.reasoningTokens, cachedInputTokens: usage.cachedInputTokens } : {})
})

const MessageItem = Schema.decodeUnknownOption(CodexWire.MessageItem)
const ReasoningItem = Schema.decodeUnknownOption(Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: Schema.optional(Schema.String),
  summary: Schema.optionalWith(Schema.Array(Schema.Struct({ text: Schema.String })), { default: () => [] }),
  encrypted_content: Schema.optional(Schema.NullOr(Schema.String))
}))

const reasoningMetadata = (item: { readonly id?: string | undefined; readonly encrypted_content?: string | null | undefined }) => ({
  subauth: { itemId: item.id, encryptedContent: item.encrypted_content ?? undefined }
})

const parseParams = (method: string, call: SubscriptionLLM.ToolCall) =>
  Effect.try({
    try: () => Tool.unsafeSecureJsonParse(call.arguments),
    catch: (cause) =>
      new AiError.MalformedOutput({
        module: MODULE,
        method,
        description: `the arguments of tool call "${call.name}" are not JSON`,
        cause
      })
  })

/** An answer the backend ended early: filtered, or (any other reason) out of tokens. */
const incompleteReason = (incomplete: SubscriptionLLM.Incomplete): Response.FinishReason =>
  incomplete.reason === "content_filter" ? "content-filter" : "length"

/**
 * The response parts of a finished turn.
 *
 * @since 0.1.0
 * @category utils
 */
export const partsOf = (result: SubscriptionLLM.Result): Effect.Effect<Array<Response.PartEncoded>, AiError.MalformedOutput> =>
  Effect.gen(function*() {
    const parts: Array<Response.PartEncoded> = [{
      type: "response-metadata",
      id: result.responseId,
      modelId: result.model,
      timestamp: undefined
    }]
    for (const item of result.items) {
      const message = MessageItem(item)
      if (Option.isSome(message)) {
        for (const part of message.value.content) {
          if (part.type === "output_text") parts.push({ type: "text", text: part.text ?? "" })
        }
        continue
      }
      const reasoning = ReasoningItem(item)
      if (Option.isSome(reasoning)) {
        const metadata = reasoningMetadata(reasoning.value)
        const texts = reasoning.value.summary.length > 0 ? reasoning.value.summary.map((s) => s.text) : [""]
        for (const text of texts) parts.push({ type: "reasoning", text, metadata })
      }
    }
    for (const call of result.toolCalls) {
      parts.push({ type: "tool-call", id: call.callId, name: call.name, params: yield* parseParams("generateText", call) })
    }
    parts.push({
      type: "finish",
      reason: result.incomplete !== undefined
        ? incompleteReason(result.incomplete)
        : result.toolCalls.length > 0
        ? "tool-calls"
        : "stop",
      usage: usageOf(result.usage),
      ...(result.rateLimits !== undefined ? { metadata: { subauth: { rateLimits: result.rateLimits } } } : {})
    })
    return parts
  })

/**
 * The stream parts of a streaming turn, item by item: `text-start/-delta/-end`
 * per message, `reasoning-start/-delta/-end` per summary part, `tool-call` per
 * function call, `finish` last.
 *
 * @since 0.1.0
 * @category utils
 */
export const streamPartsOf = <E, R>(
  events: Stream.Stream<SubscriptionLLM.Event, E, R>
): Stream.Stream<Response.StreamPartEncoded, E | AiError.MalformedOutput, R> =>
  Stream.suspend(() => {
    const openText = new Set<string>()
    const openReasoning = new Map<string, Set<string>>()
    let toolCalls = 0
    let rateLimits: SubscriptionLLM.RateLimits | undefined
    return Stream.mapConcatEffect(events, (event): Effect.Effect<Array<Response.StreamPartEncoded>, AiError.MalformedOutput> => {
      switch (event._tag) {
        case "RateLimits":
          rateLimits = event.limits
          return Effect.succeed([])
        case "Created":
          return Effect.succeed([{ type: "response-metadata", id: event.responseId, modelId: event.model, timestamp: undefined }])
        case "TextDelta": {
          const id = event.itemId ?? "text"
          const start: Array<Response.StreamPartEncoded> = openText.has(id) ? [] : [{ type: "text-start", id }]
          openText.add(id)
          return Effect.succeed([...start, { type: "text-delta", id, delta: event.delta }])
        }
        case "ReasoningSummaryDelta": {
          const item = event.itemId ?? "reasoning"
          const id = `${item}:${event.summaryIndex}`
          const open = openReasoning.get(item) ?? new Set<string>()
          openReasoning.set(item, open)
          const start: Array<Response.StreamPartEncoded> = open.has(id) ? [] : [{ type: "reasoning-start", id }]
          open.add(id)
          return Effect.succeed([...start, { type: "reasoning-delta", id, delta: event.delta }])
        }
        case "ItemDone": {
          const message = MessageItem(event.item)
          if (Option.isSome(message)) {
            const id = typeof event.item.id === "string" ? event.item.id : "text"
            if (openText.delete(id)) return Effect.succeed([{ type: "text-end", id }])
            // No deltas came (the minimal stream): the whole text at once.
            return Effect.succeed(Option.match(CodexWire.assistantText(event.item), {
              onNone: (): Array<Response.StreamPartEncoded> => [],
              onSome: (text) => [{ type: "text-start", id }, { type: "text-delta", id, delta: text }, { type: "text-end", id }]
            }))
          }
          const reasoning = ReasoningItem(event.item)
          if (Option.isSome(reasoning)) {
            const item = reasoning.value.id ?? "reasoning"
            const metadata = reasoningMetadata(reasoning.value)
            const open = [...(openReasoning.get(item) ?? [])]
            openReasoning.delete(item)
            // Always close with the encrypted content, so that the part can be sent back.
            return Effect.succeed(
              open.length > 0
                ? open.map((id): Response.StreamPartEncoded => ({ type: "reasoning-end", id, metadata }))
                : [{ type: "reasoning-start", id: `${item}:0` }, { type: "reasoning-end", id: `${item}:0`, metadata }]
            )
          }
          return Effect.succeed([])
        }
        case "ToolCall":
          toolCalls += 1
          return Effect.map(parseParams("streamText", event.call), (params) => [{
            type: "tool-call" as const,
            id: event.call.callId,
            name: event.call.name,
            params
          }])
        case "Completed":
        case "Incomplete":
          return Effect.succeed([{
            type: "finish",
            reason: event._tag === "Incomplete" ? incompleteReason(event) : toolCalls > 0 ? "tool-calls" : "stop",
            usage: usageOf(event.usage),
            ...(rateLimits !== undefined ? { metadata: { subauth: { rateLimits } } } : {})
          }])
      }
    })
  })

const toAiError = (method: string) => (error: SubscriptionLLM.SubscriptionLLM.Error | AiError.AiError): AiError.AiError =>
  AiError.isAiError(error) ? error : new AiError.UnknownError({ module: MODULE, method, description: error.message, cause: error })

// --- the service ---------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default: the `SubscriptionLLM`'s model. */
  readonly model?: string
  readonly config?: Settings
}

/**
 * Builds the `LanguageModel` over the `SubscriptionLLM` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LanguageModel.Service, never, SubscriptionLLM.SubscriptionLLM> =>
  Effect.gen(function*() {
    const llm = yield* SubscriptionLLM.SubscriptionLLM
    const request = (providerOptions: LanguageModel.ProviderOptions) =>
      Effect.flatMap(Effect.serviceOption(Config), (override) =>
        makeRequest(providerOptions, {
          ...(options.model !== undefined ? { model: options.model } : {}),
          ...options.config,
          ...Option.getOrUndefined(override)
        }))
    return yield* LanguageModel.make({
      generateText: (providerOptions) =>
        request(providerOptions).pipe(
          Effect.flatMap(llm.generate),
          Effect.flatMap(partsOf),
          Effect.mapError(toAiError("generateText"))
        ),
      streamText: (providerOptions) =>
        request(providerOptions).pipe(
          Effect.map((r) => streamPartsOf(llm.stream(r))),
          Stream.unwrap,
          Stream.mapError(toAiError("streamText"))
        )
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, never, SubscriptionLLM.SubscriptionLLM> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * The model as an `@effect/ai` `Model` (provider name `"subauth"`).
 *
 * @since 0.1.0
 * @category models
 */
export const model = (
  name: string,
  config?: Settings
): AiModel.Model<"subauth", LanguageModel.LanguageModel, SubscriptionLLM.SubscriptionLLM> =>
  AiModel.make("subauth", layer({ model: name, ...(config !== undefined ? { config } : {}) }))
