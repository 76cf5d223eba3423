/**
 * The ChatGPT Codex backend as a service: a model turn on the signed-in
 * subscription, streamed as typed events.
 *
 * - Requests are made exactly as Codex CLI 0.169 makes them (fixture
 *   `backend-responses-request.json`): `POST {base}/responses` with the
 *   subscription's bearer token, `chatgpt-account-id`, `originator`,
 *   `session-id` and `accept: text/event-stream`; a body with `stream: true`,
 *   `store: false`, input items without ids, and `include:
 *   ["reasoning.encrypted_content"]` when reasoning is on. System prompts travel
 *   as `developer` messages. Sampling parameters the backend rejects
 *   (`temperature`, `max_output_tokens`, …) are dropped, with a debug line.
 * - Every request takes a valid token from the {@link TokenManager}; a 401
 *   asks it to recover (re-read or refresh) and the request is made once more.
 * - 5xx and transport failures before the stream starts are retried with
 *   bounded backoff; a usage limit (429 `usage_limit_reached`) is not, and
 *   says when the limit resets. Once events flow nothing is retried: a stream
 *   that ends before `response.completed` fails, it is never a short answer.
 * - `generate` collects the final items from `response.output_item.done`; the
 *   backend's `response.completed` may carry an empty `output`.
 *
 * Platform-free: any `HttpClient` will do.
 *
 * @see protocol.md §5, §9
 * @since 0.1.0
 */
import { Headers, HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import {
  Chunk,
  Clock,
  Config,
  type ConfigError,
  Context,
  Data,
  DateTime,
  Duration,
  Effect,
  Either,
  identity,
  Layer,
  Option,
  Record,
  Redacted,
  Schema,
  Stream
} from "effect"
import { TransportError } from "./AuthError.js"
import { describeTransport } from "./internal/http.js"
import * as Sse from "./internal/sse.js"
import { scrub } from "./internal/text.js"
import { version } from "./internal/version.js"
import { checkBaseUrl, type ProviderError } from "./Provider.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import { TokenManager } from "./TokenManager.js"
import type * as TokenSet from "./TokenSet.js"

// =============================================================================
// Constants
// =============================================================================

/**
 * Where the Codex backend lives for ChatGPT sign-ins (protocol.md §5.1).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://chatgpt.com/backend-api/codex"

/**
 * The `originator` header the reference clients send (protocol.md §5.2).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ORIGINATOR = "codex_cli_rs"

/**
 * The model of the captured Codex CLI 0.169 request.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "gpt-5.5"

/**
 * Sent as `client_version` to `GET /models`: the Codex CLI version whose
 * protocol this client follows (the backend filters its catalog by it).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CLIENT_VERSION = "0.169.0"

/**
 * `subauth/<version>`.
 *
 * @since 0.1.0
 * @category constants
 */
export const USER_AGENT = `subauth/${version}`

/**
 * The header names that must never be printed: added to
 * `Headers.currentRedactedNames` while the service works.
 *
 * @since 0.1.0
 * @category constants
 */
export const REDACTED_HEADERS: ReadonlyArray<string> = ["authorization", "chatgpt-account-id"]

// =============================================================================
// Errors
// =============================================================================

/**
 * The plan's usage limit is reached (HTTP 429 `usage_limit_reached`), or the
 * plan does not include Codex at all (`usage_not_included`). Never retried:
 * it only passes when the limit resets.
 *
 * @see protocol.md §5.6, §9 (fixture `backend-usage-limit-429.json`)
 * @since 0.1.0
 * @category errors
 */
export class UsageLimitReached extends Schema.TaggedError<UsageLimitReached>("@subauth/core/UsageLimitReached")(
  "UsageLimitReached",
  {
    reason: Schema.Literal("UsageLimitReached", "UsageNotIncluded"),
    planType: Schema.optional(Schema.String),
    resetsAt: Schema.optional(Schema.DateTimeUtcFromSelf),
    resetsInSeconds: Schema.optional(Schema.Number),
    description: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const plan = this.planType !== undefined ? `the ChatGPT ${this.planType} plan` : "the ChatGPT plan"
    if (this.reason === "UsageNotIncluded") {
      return `${plan} does not include Codex usage; upgrade the plan (https://chatgpt.com/explore/pro) or use an API key`
    }
    const when = this.resetsAt !== undefined
      ? `; it resets at ${DateTime.formatIso(this.resetsAt)}${
        this.resetsInSeconds !== undefined ? ` (in ${Duration.format(Duration.seconds(Math.ceil(this.resetsInSeconds)))})` : ""
      }; try again then`
      : this.resetsInSeconds !== undefined
      ? `; it resets in ${Duration.format(Duration.seconds(Math.ceil(this.resetsInSeconds)))}; try again then`
      : "; try again later"
    return `usage limit of ${plan} reached${when}, or add credits at https://chatgpt.com/codex/settings/usage`
  }
}

/**
 * The backend answered, but not with a complete turn.
 *
 * - `ContextLengthExceeded`, `QuotaExceeded`, `PolicyViolation`,
 *   `InvalidRequest`: the request cannot succeed as it is (`code` and
 *   `description` are the backend's).
 * - `Overloaded`, `RateLimited`: the model is busy; try again later
 *   (`retryAfter` when the backend said).
 * - `Unauthorized`: the access token was refused even after it was renewed.
 * - `Forbidden`: a 403 (no Codex access, or a proxy in the way).
 * - `Failed`, `Incomplete`: the turn failed or stopped (`response.failed`,
 *   `response.incomplete`).
 * - `StreamClosed`: the stream ended before `response.completed`.
 * - `InvalidResponse`: an event or body that is not what the protocol says.
 *
 * @see protocol.md §5.5, §5.6
 * @since 0.1.0
 * @category errors
 */
export class ResponseError extends Schema.TaggedError<ResponseError>("@subauth/core/ResponseError")("ResponseError", {
  reason: Schema.Literal(
    "ContextLengthExceeded",
    "QuotaExceeded",
    "PolicyViolation",
    "InvalidRequest",
    "Overloaded",
    "RateLimited",
    "Unauthorized",
    "Forbidden",
    "Failed",
    "Incomplete",
    "StreamClosed",
    "InvalidResponse"
  ),
  status: Schema.optional(Schema.Number),
  code: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.DurationFromSelf)
}) {
  override get message(): string {
    const detail = [this.code && `"${this.code}"`, this.description].filter(Boolean).join(": ")
    const suffix = detail ? ` (${detail})` : ""
    const status = this.status !== undefined ? ` (status ${this.status})` : ""
    switch (this.reason) {
      case "ContextLengthExceeded":
        return `the input is longer than the model's context window${suffix}; shorten it or start a new conversation`
      case "QuotaExceeded":
        return `the account has no quota left for this request${suffix}; see https://chatgpt.com/codex/settings/usage`
      case "PolicyViolation":
        return `the backend refused the request under its usage policy${suffix}`
      case "InvalidRequest":
        return `the backend rejected the request${status}${suffix}; check the model name and options`
      case "Overloaded":
        return `the model is overloaded${suffix}; try again in a moment`
      case "RateLimited":
        return `the backend is rate limiting requests${suffix}; try again ${
          this.retryAfter !== undefined ? `in ${Duration.format(this.retryAfter)}` : "later"
        }`
      case "Unauthorized":
        return `the backend refused the access token, also after renewing it${suffix}; run "subauth login" to sign in again`
      case "Forbidden":
        return `the backend refused access${status}${suffix}; the account may not include Codex, or a proxy blocked the request`
      case "Failed":
        return `the model failed to complete the response${suffix}; try again`
      case "Incomplete":
        return `the response is incomplete${suffix}`
      case "StreamClosed":
        return `the response stream ended before "response.completed"${suffix}; the answer is incomplete, try again`
      case "InvalidResponse":
        return `the backend sent something unexpected${suffix}`
    }
  }
}

// =============================================================================
// Wire schemas (snake_case, as the backend speaks)
// =============================================================================

/**
 * A Responses API item (`message`, `reasoning`, `function_call`,
 * `function_call_output`, …) in the backend's shape. Lenient on purpose: items
 * carry fields this module does not model (`phase`, `namespace`, `status`, …)
 * and must be sent back as they came, so every field is kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Item = Schema.Struct({ type: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/**
 * @since 0.1.0
 * @category schemas
 */
export type Item = typeof Item.Type

const ContentPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })

/**
 * A `message` item, as far as this module reads it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageItem = Schema.Struct({
  type: Schema.Literal("message"),
  role: Schema.String,
  content: Schema.Array(ContentPart)
})

/**
 * A `function_call` item: `arguments` is a JSON string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: Schema.optional(Schema.String),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
})

/**
 * A function tool as the backend takes it, keys in Codex's order.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  name: Schema.String,
  description: Schema.String,
  strict: Schema.Boolean,
  parameters: Schema.Unknown
})

const ReasoningEffort = Schema.Literal("none", "minimal", "low", "medium", "high", "xhigh")
const ReasoningSummary = Schema.Literal("auto", "concise", "detailed")

const ReasoningWire = Schema.Struct({
  effort: Schema.optionalWith(ReasoningEffort, { exact: true }),
  summary: Schema.optionalWith(ReasoningSummary, { exact: true })
})

const TextWire = Schema.Struct({
  verbosity: Schema.optionalWith(Schema.Literal("low", "medium", "high"), { exact: true }),
  format: Schema.optionalWith(
    Schema.Struct({
      type: Schema.Literal("json_schema"),
      strict: Schema.Boolean,
      schema: Schema.Unknown,
      name: Schema.String
    }),
    { exact: true }
  )
})

const ToolChoiceWire = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ type: Schema.Literal("function"), name: Schema.String })
)

/**
 * The body of `POST {base}/responses`, keys in the order Codex CLI 0.169 sends
 * them (`instructions` and `service_tier` where codex-rs puts them when set).
 *
 * @see protocol.md §5.3, §9
 * @since 0.1.0
 * @category schemas
 */
export const ResponsesRequest = Schema.Struct({
  model: Schema.String,
  instructions: Schema.optionalWith(Schema.String, { exact: true }),
  stream: Schema.Literal(true),
  input: Schema.Array(Item),
  tools: Schema.Array(Schema.Union(FunctionTool, Item)),
  tool_choice: ToolChoiceWire,
  parallel_tool_calls: Schema.Boolean,
  reasoning: Schema.NullOr(ReasoningWire),
  store: Schema.Literal(false),
  include: Schema.Array(Schema.String),
  service_tier: Schema.optionalWith(Schema.Literal("priority", "flex"), { exact: true }),
  prompt_cache_key: Schema.String,
  text: Schema.optionalWith(TextWire, { exact: true })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ResponsesRequest = typeof ResponsesRequest.Type

// Lenient: the minimal stream the Codex CLI accepts has no usage at all.
const UsageWire = Schema.Struct({
  input_tokens: Schema.optional(Schema.Number),
  input_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ cached_tokens: Schema.optional(Schema.Number) }))),
  output_tokens: Schema.optional(Schema.Number),
  output_tokens_details: Schema.optional(
    Schema.NullOr(Schema.Struct({ reasoning_tokens: Schema.optional(Schema.Number) }))
  ),
  total_tokens: Schema.optional(Schema.Number)
})

// An error as the backend reports it, in an HTTP body (`error`) or in `response.failed` (`response.error`).
const ErrorWire = Schema.Struct({
  type: Schema.optional(Schema.NullOr(Schema.String)),
  code: Schema.optional(Schema.NullOr(Schema.String)),
  message: Schema.optional(Schema.NullOr(Schema.String)),
  plan_type: Schema.optional(Schema.NullOr(Schema.String)),
  resets_at: Schema.optional(Schema.NullOr(Schema.Number)),
  resets_in_seconds: Schema.optional(Schema.NullOr(Schema.Number))
})

const ErrorBody = Schema.Struct({
  error: Schema.optional(ErrorWire),
  detail: Schema.optional(Schema.Unknown)
})

const TextDeltaEvent = Schema.Struct({ item_id: Schema.optional(Schema.String), delta: Schema.String })
const ReasoningDeltaEvent = Schema.Struct({
  item_id: Schema.optional(Schema.String),
  summary_index: Schema.optional(Schema.Number),
  delta: Schema.String
})
const ItemDoneEvent = Schema.Struct({ item: Item })
const CreatedEvent = Schema.Struct({ response: Schema.Struct({ id: Schema.String, model: Schema.optional(Schema.String) }) })
const CompletedEvent = Schema.Struct({
  response: Schema.Struct({ id: Schema.String, usage: Schema.optional(Schema.NullOr(UsageWire)) })
})
const FailedEvent = Schema.Struct({ response: Schema.Struct({ error: Schema.optional(Schema.NullOr(ErrorWire)) }) })
const IncompleteEvent = Schema.Struct({
  response: Schema.Struct({
    incomplete_details: Schema.optional(Schema.NullOr(Schema.Struct({ reason: Schema.optional(Schema.String) })))
  })
})

// Lenient: catalog entries differ between backend versions; only `slug` is needed.
const ModelInfoWire = Schema.Struct({
  slug: Schema.String,
  display_name: Schema.optional(Schema.NullOr(Schema.String)),
  context_window: Schema.optional(Schema.NullOr(Schema.Number)),
  default_reasoning_level: Schema.optional(Schema.NullOr(Schema.String)),
  supported_reasoning_levels: Schema.optional(
    Schema.NullOr(Schema.Array(Schema.Union(Schema.String, Schema.Struct({ effort: Schema.String }))))
  ),
  supports_reasoning_summaries: Schema.optional(Schema.NullOr(Schema.Boolean)),
  support_verbosity: Schema.optional(Schema.NullOr(Schema.Boolean)),
  supports_parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  base_instructions: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * The answer of `GET {base}/models`.
 *
 * @see protocol.md §5.1
 * @since 0.1.0
 * @category schemas
 */
export const ModelsResponse = Schema.Struct({ models: Schema.Array(ModelInfoWire) })

// =============================================================================
// Domain models
// =============================================================================

/**
 * @since 0.1.0
 * @category models
 */
export type ReasoningEffort = typeof ReasoningEffort.Type

/**
 * Reasoning settings: `effort`, and `summary` to have reasoning summaries
 * streamed.
 *
 * @since 0.1.0
 * @category models
 */
export type Reasoning = typeof ReasoningWire.Type

/**
 * A function the model may call. `parameters` is a JSON Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool {
  readonly name: string
  readonly description?: string
  readonly parameters: unknown
  /** Default `false`, as Codex sends its own tools. */
  readonly strict?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export type ToolChoice = typeof ToolChoiceWire.Type

/**
 * One model turn. `input` holds items in the backend's shape (see
 * {@link userMessage} and friends, or items from an earlier {@link Result});
 * their ids are stripped before sending.
 *
 * The sampling fields at the end are accepted so that code written for the
 * API-key Responses API runs unchanged, and dropped: the subscription backend
 * answers "Unsupported parameter" to every one of them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly input: ReadonlyArray<Item>
  /** Default: the service's model. */
  readonly model?: string
  /** Sent as `developer` messages before `input`, as Codex CLI 0.169 sends its prompts. */
  readonly system?: string | ReadonlyArray<string>
  /** Top-level `instructions` (older clients sent the model's base instructions here). */
  readonly instructions?: string
  readonly tools?: ReadonlyArray<Tool>
  /** Default `"auto"`. */
  readonly toolChoice?: ToolChoice
  /** Default `true`. */
  readonly parallelToolCalls?: boolean
  /** `null` turns reasoning off. Default: the service's (`{ effort: "medium" }`). */
  readonly reasoning?: Reasoning | null
  readonly text?: typeof TextWire.Type
  readonly serviceTier?: "priority" | "flex"
  /** Sent as `prompt_cache_key` and `session-id`. Default: the service's session id. */
  readonly conversationId?: string
  readonly temperature?: number
  readonly topP?: number
  readonly maxOutputTokens?: number
  readonly maxCompletionTokens?: number
  readonly presencePenalty?: number
  readonly frequencyPenalty?: number
  readonly seed?: number
  readonly topLogprobs?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly reasoningTokens: number
  readonly totalTokens: number
}

/**
 * One rate-limit window: how much of it is used and when it resets.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitWindow {
  readonly usedPercent: number
  readonly windowMinutes?: number
  readonly resetsAt?: DateTime.Utc
}

/**
 * The rate-limit state the backend reports in the headers of every answer
 * (`x-codex-primary-used-percent`, …).
 *
 * @see protocol.md §5.4
 * @since 0.1.0
 * @category models
 */
export interface RateLimits {
  readonly primary?: RateLimitWindow
  readonly secondary?: RateLimitWindow
  readonly credits?: { readonly hasCredits: boolean; readonly unlimited: boolean; readonly balance?: string }
  readonly planType?: string
  readonly activeLimit?: string
}

/**
 * A function call the model made. `arguments` is the JSON string it wrote.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly callId: string
  readonly name: string
  readonly arguments: string
}

/**
 * What a turn streams, in order: `RateLimits` (from the headers), `Created`,
 * deltas, `ItemDone` for each finished item (`ToolCall` right after a function
 * call's), and `Completed` last.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  RateLimits: { readonly limits: RateLimits }
  Created: { readonly responseId: string; readonly model: string | undefined }
  TextDelta: { readonly itemId: string | undefined; readonly delta: string }
  ReasoningSummaryDelta: { readonly itemId: string | undefined; readonly summaryIndex: number; readonly delta: string }
  ItemDone: { readonly item: Item }
  ToolCall: { readonly call: ToolCall }
  Completed: { readonly responseId: string; readonly usage: Usage | undefined }
}>

/**
 * Constructors and matchers of {@link Event}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A finished turn: the output items (to append to the next turn's input), and
 * what they say.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly responseId: string
  /** The model that answered, as `response.created` named it. */
  readonly model?: string
  /** The items of every `response.output_item.done`, in order. */
  readonly items: ReadonlyArray<Item>
  /** The assistant's text, all messages joined. */
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly usage?: Usage
  readonly rateLimits?: RateLimits
}

/**
 * A model of the catalog.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelInfo {
  readonly slug: string
  readonly displayName: string
  readonly contextWindow?: number
  readonly defaultReasoningEffort?: string
  readonly reasoningEfforts: ReadonlyArray<string>
  readonly supportsReasoningSummaries: boolean
  readonly supportsVerbosity: boolean
  readonly supportsParallelToolCalls: boolean
  readonly baseInstructions?: string
}

/**
 * The catalog, and whether it came from the backend or from the bundled list.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelList {
  readonly source: "backend" | "bundled"
  readonly models: ReadonlyArray<ModelInfo>
}

const bundled = (slug: string, displayName: string): ModelInfo => ({
  slug,
  displayName,
  defaultReasoningEffort: "medium",
  reasoningEfforts: ["low", "medium", "high"],
  supportsReasoningSummaries: true,
  supportsVerbosity: true,
  supportsParallelToolCalls: true
})

/**
 * Used when `GET /models` fails: the slugs the Codex backend served to
 * ChatGPT sign-ins when this version was made (protocol.md §5.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const BUNDLED_MODELS: ReadonlyArray<ModelInfo> = [
  bundled("gpt-5.5", "GPT-5.5"),
  bundled("gpt-5.4", "GPT-5.4"),
  bundled("gpt-5.4-mini", "GPT-5.4 mini"),
  bundled("gpt-5.3-codex", "GPT-5.3 Codex"),
  bundled("gpt-5.2", "GPT-5.2")
]

// =============================================================================
// Input items
// =============================================================================

const message = (role: string, type: string, text: string): Item => ({ type: "message", role, content: [{ type, text }] })

/**
 * @since 0.1.0
 * @category constructors
 */
export const userMessage = (text: string): Item => message("user", "input_text", text)

/**
 * @since 0.1.0
 * @category constructors
 */
export const developerMessage = (text: string): Item => message("developer", "input_text", text)

/**
 * @since 0.1.0
 * @category constructors
 */
export const assistantMessage = (text: string): Item => message("assistant", "output_text", text)

/**
 * The answer to a {@link ToolCall}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const functionCallOutput = (callId: string, output: string): Item => ({
  type: "function_call_output",
  call_id: callId,
  output
})

// =============================================================================
// Request building (pure)
// =============================================================================

/**
 * The caller's options the backend rejects, with their wire names.
 *
 * @since 0.1.0
 * @category constants
 */
export const UNSUPPORTED_PARAMETERS = {
  temperature: "temperature",
  topP: "top_p",
  maxOutputTokens: "max_output_tokens",
  maxCompletionTokens: "max_completion_tokens",
  presencePenalty: "presence_penalty",
  frequencyPenalty: "frequency_penalty",
  seed: "seed",
  topLogprobs: "top_logprobs"
} as const satisfies Partial<Record<keyof Request, string>>

/**
 * @since 0.1.0
 * @category models
 */
export interface Defaults {
  readonly model: string
  readonly reasoning: Reasoning | null
  readonly conversationId: string
}

/**
 * The request body for `request`, and what was left out: unsupported
 * parameters (by wire name), and input items that cannot be sent with
 * `store: false` (`item_reference`s, reasoning without `encrypted_content`).
 * Item ids are stripped: nothing is stored server-side, so an id can only
 * point at nothing ("Item with id … not found").
 *
 * @see protocol.md §5.3
 * @since 0.1.0
 * @category requests
 */
export const buildBody = (request: Request, defaults: Defaults): {
  readonly body: typeof ResponsesRequest.Encoded
  readonly dropped: ReadonlyArray<string>
  readonly droppedItems: ReadonlyArray<string>
} => {
  const dropped = Object.entries(UNSUPPORTED_PARAMETERS)
    .filter(([key]) => request[key as keyof Request] !== undefined)
    .map(([, wire]) => wire)
  const droppedItems: Array<string> = []
  const system = request.system === undefined ? [] : typeof request.system === "string" ? [request.system] : request.system
  const input: Array<Item> = system.map(developerMessage)
  for (const item of request.input) {
    if (item.type === "item_reference" || (item.type === "reasoning" && typeof item.encrypted_content !== "string")) {
      droppedItems.push(item.type === "reasoning" ? "reasoning without encrypted_content" : "item_reference")
      continue
    }
    if ("id" in item) {
      const { id: _, ...rest } = item
      input.push(rest as Item)
    } else input.push(item)
  }
  const reasoning = request.reasoning === undefined ? defaults.reasoning : request.reasoning
  const body: typeof ResponsesRequest.Encoded = {
    model: request.model ?? defaults.model,
    ...(request.instructions !== undefined ? { instructions: request.instructions } : {}),
    stream: true,
    input,
    tools: (request.tools ?? []).map((tool) => ({
      type: "function" as const,
      name: tool.name,
      description: tool.description ?? "",
      strict: tool.strict ?? false,
      parameters: tool.parameters
    })),
    tool_choice: request.toolChoice ?? "auto",
    parallel_tool_calls: request.parallelToolCalls ?? true,
    reasoning,
    store: false,
    include: reasoning === null ? [] : ["reasoning.encrypted_content"],
    ...(request.serviceTier !== undefined ? { service_tier: request.serviceTier } : {}),
    prompt_cache_key: request.conversationId ?? defaults.conversationId,
    ...(request.text !== undefined ? { text: request.text } : {})
  }
  return { body, dropped, droppedItems }
}

// =============================================================================
// Answers (pure)
// =============================================================================

const header = (headers: Headers.Headers, name: string): string | undefined => headers[name]

const finite = (value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

const bool = (value: string | undefined): boolean | undefined => {
  const v = value?.trim().toLowerCase()
  return v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : undefined
}

const windowOf = (headers: Headers.Headers, which: string, now: number): RateLimitWindow | undefined => {
  const usedPercent = finite(header(headers, `x-codex-${which}-used-percent`))
  if (usedPercent === undefined) return undefined
  const windowMinutes = finite(header(headers, `x-codex-${which}-window-minutes`))
  const resetAt = finite(header(headers, `x-codex-${which}-reset-at`))
  const resetAfter = finite(header(headers, `x-codex-${which}-reset-after-seconds`))
  const resetsAt = resetAt !== undefined
    ? DateTime.unsafeMake(resetAt * 1000)
    : resetAfter !== undefined
    ? DateTime.unsafeMake(now + resetAfter * 1000)
    : undefined
  // codex-rs ignores a window that says nothing.
  if (usedPercent === 0 && windowMinutes === undefined && resetsAt === undefined) return undefined
  return {
    usedPercent,
    ...(windowMinutes !== undefined ? { windowMinutes } : {}),
    ...(resetsAt !== undefined ? { resetsAt } : {})
  }
}

/**
 * The rate-limit state in the headers of an answer received at `now` (epoch
 * ms), if there is any.
 *
 * @see protocol.md §5.4
 * @since 0.1.0
 * @category decoding
 */
export const rateLimitsOf = (headers: Headers.Headers, now: number): RateLimits | undefined => {
  const primary = windowOf(headers, "primary", now)
  const secondary = windowOf(headers, "secondary", now)
  const hasCredits = bool(header(headers, "x-codex-credits-has-credits"))
  const unlimited = bool(header(headers, "x-codex-credits-unlimited"))
  const balance = header(headers, "x-codex-credits-balance")
  const planType = header(headers, "x-codex-plan-type")
  const activeLimit = header(headers, "x-codex-active-limit")
  const credits = hasCredits === undefined && unlimited === undefined
    ? undefined
    : { hasCredits: hasCredits ?? false, unlimited: unlimited ?? false, ...(balance !== undefined ? { balance } : {}) }
  const limits: RateLimits = {
    ...(primary !== undefined ? { primary } : {}),
    ...(secondary !== undefined ? { secondary } : {}),
    ...(credits !== undefined ? { credits } : {}),
    ...(planType !== undefined ? { planType } : {}),
    ...(activeLimit !== undefined ? { activeLimit } : {})
  }
  return Object.keys(limits).length > 0 ? limits : undefined
}

const retryAfterOf = (text: string): Duration.Duration | undefined => {
  const m = /try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b/i.exec(text)
  if (m === null) return undefined
  const n = Number(m[1])
  return m[2]!.toLowerCase() === "ms" ? Duration.millis(n) : Duration.millis(Math.round(n * 1000))
}

const nonNull = <A>(a: A | null | undefined): A | undefined => (a === null ? undefined : a)

type WireError = typeof ErrorWire.Type

const usageLimitOf = (error: WireError, now: number, description: string | undefined): UsageLimitReached | undefined => {
  const kind = nonNull(error.type) ?? nonNull(error.code)
  if (kind !== "usage_limit_reached" && kind !== "usage_not_included") return undefined
  const resetsAtSeconds = nonNull(error.resets_at)
  const resetsIn = nonNull(error.resets_in_seconds) ??
    (resetsAtSeconds !== undefined ? Math.max(0, Math.round(resetsAtSeconds - now / 1000)) : undefined)
  const planType = nonNull(error.plan_type)
  return new UsageLimitReached({
    reason: kind === "usage_limit_reached" ? "UsageLimitReached" : "UsageNotIncluded",
    ...(planType !== undefined ? { planType } : {}),
    ...(resetsAtSeconds !== undefined ? { resetsAt: DateTime.unsafeMake(resetsAtSeconds * 1000) } : {}),
    ...(resetsIn !== undefined ? { resetsInSeconds: resetsIn } : {}),
    ...(description !== undefined ? { description } : {})
  })
}

const codeReasons: Record<string, ResponseError["reason"]> = {
  context_length_exceeded: "ContextLengthExceeded",
  insufficient_quota: "QuotaExceeded",
  cyber_policy: "PolicyViolation",
  invalid_prompt: "InvalidRequest",
  server_is_overloaded: "Overloaded",
  slow_down: "Overloaded",
  rate_limit_exceeded: "RateLimited"
}

/**
 * The error a `response.failed` event stands for (codex-rs's mapping by
 * `error.code`).
 *
 * @see protocol.md §5.5
 * @since 0.1.0
 * @category decoding
 */
export const streamFailure = (
  error: WireError | undefined,
  now: number,
  secrets: ReadonlyArray<string> = []
): UsageLimitReached | ResponseError => {
  const text = nonNull(error?.message)
  const description = text !== undefined ? scrub(text, secrets) : undefined
  const limit = error !== undefined ? usageLimitOf(error, now, description) : undefined
  if (limit !== undefined) return limit
  const code = nonNull(error?.code) ?? nonNull(error?.type)
  const reason = (code !== undefined ? codeReasons[code] : undefined) ?? "Failed"
  const retryAfter = reason === "RateLimited" && text !== undefined ? retryAfterOf(text) : undefined
  return new ResponseError({
    reason,
    ...(code !== undefined ? { code: scrub(code, secrets, 80) } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {})
  })
}

/**
 * Classifies an answer that is not a stream: 401 means "recover and try once
 * more" (`"Unauthorized"`); a usage limit is {@link UsageLimitReached}; 5xx
 * (but "overloaded") and 408 are `TransportError`s, which are retried; the
 * rest are {@link ResponseError}s.
 *
 * @see protocol.md §5.6
 * @since 0.1.0
 * @category decoding
 */
export const classifyAnswer = (
  endpoint: string,
  answer: { readonly status: number; readonly json: unknown; readonly text: string },
  now: number,
  secrets: ReadonlyArray<string> = []
): "Unauthorized" | UsageLimitReached | ResponseError | TransportError => {
  const { status } = answer
  const body = Option.getOrUndefined(Schema.decodeUnknownOption(ErrorBody)(answer.json))
  const error = body?.error
  const detail = typeof body?.detail === "string" ? body.detail : undefined
  const rawText = nonNull(error?.message) ?? detail ??
    (answer.json === undefined && answer.text.length > 0 ? answer.text.replace(/\s+/g, " ").trim() : undefined)
  const description = rawText !== undefined ? scrub(rawText, secrets, 200) : undefined
  const limit = error !== undefined ? usageLimitOf(error, now, description) : undefined
  if (limit !== undefined) return limit
  if (status === 401) return "Unauthorized"
  const code = error !== undefined ? nonNull(error.code) ?? nonNull(error.type) : undefined
  const known = code !== undefined ? codeReasons[code] : undefined
  const fields = {
    status,
    ...(code !== undefined ? { code: scrub(code, secrets, 80) } : {}),
    ...(description !== undefined ? { description } : {})
  }
  if (known === "Overloaded") return new ResponseError({ reason: "Overloaded", ...fields })
  if (status >= 500 || status === 408) {
    return new TransportError({
      reason: status === 408 ? "Timeout" : "ServerError",
      endpoint,
      status,
      ...(description !== undefined ? { description } : {})
    })
  }
  if (status === 429) {
    const retryAfter = rawText !== undefined ? retryAfterOf(rawText) : undefined
    return new ResponseError({ reason: "RateLimited", ...fields, ...(retryAfter !== undefined ? { retryAfter } : {}) })
  }
  if (status === 403) return new ResponseError({ reason: "Forbidden", ...fields })
  return new ResponseError({ reason: known ?? "InvalidRequest", ...fields })
}

const usageOf = (wire: typeof UsageWire.Type | null | undefined): Usage | undefined => {
  if (wire === null || wire === undefined) return undefined
  const inputTokens = wire.input_tokens ?? 0
  const outputTokens = wire.output_tokens ?? 0
  return {
    inputTokens,
    cachedInputTokens: wire.input_tokens_details?.cached_tokens ?? 0,
    outputTokens,
    reasoningTokens: wire.output_tokens_details?.reasoning_tokens ?? 0,
    totalTokens: wire.total_tokens ?? inputTokens + outputTokens
  }
}

const decoders = {
  text: Schema.decodeUnknownEither(TextDeltaEvent),
  reasoning: Schema.decodeUnknownEither(ReasoningDeltaEvent),
  itemDone: Schema.decodeUnknownEither(ItemDoneEvent),
  created: Schema.decodeUnknownEither(CreatedEvent),
  completed: Schema.decodeUnknownEither(CompletedEvent),
  failed: Schema.decodeUnknownEither(FailedEvent),
  incomplete: Schema.decodeUnknownEither(IncompleteEvent),
  error: Schema.decodeUnknownEither(ErrorWire),
  functionCall: Schema.decodeUnknownEither(FunctionCallItem)
}

const invalid = (type: string) => new ResponseError({ reason: "InvalidResponse", description: `malformed "${type}" event` })

/**
 * Turns one SSE `data` payload into events (pushed on `out`), or the error it
 * reports. Data that is not JSON and event types this module does not use
 * are skipped, as codex-rs does.
 */
const decodeData = (
  data: string,
  out: Array<Event>,
  now: () => number,
  secrets: ReadonlyArray<string>
): UsageLimitReached | ResponseError | undefined => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return undefined
  }
  const type = typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined
  switch (type) {
    case "response.output_text.delta": {
      const e = decoders.text(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Event.TextDelta({ itemId: e.right.item_id, delta: e.right.delta }))
      return undefined
    }
    case "response.reasoning_summary_text.delta": {
      const e = decoders.reasoning(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Event.ReasoningSummaryDelta({ itemId: e.right.item_id, summaryIndex: e.right.summary_index ?? 0, delta: e.right.delta }))
      return undefined
    }
    case "response.output_item.done": {
      const e = decoders.itemDone(json)
      if (Either.isLeft(e)) return invalid(type)
      const item = e.right.item
      out.push(Event.ItemDone({ item }))
      if (item.type === "function_call") {
        const call = decoders.functionCall(item)
        if (Either.isLeft(call)) return invalid(`${type}" with a "function_call`)
        out.push(Event.ToolCall({ call: { callId: call.right.call_id, name: call.right.name, arguments: call.right.arguments } }))
      }
      return undefined
    }
    case "response.created": {
      const e = decoders.created(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Event.Created({ responseId: e.right.response.id, model: e.right.response.model }))
      return undefined
    }
    case "response.completed": {
      const e = decoders.completed(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Event.Completed({ responseId: e.right.response.id, usage: usageOf(e.right.response.usage) }))
      return undefined
    }
    case "response.failed": {
      const e = decoders.failed(json)
      return streamFailure(Either.isRight(e) ? nonNull(e.right.response.error) : undefined, now(), secrets)
    }
    case "error": {
      const e = decoders.error(json)
      return streamFailure(Either.isRight(e) ? e.right : undefined, now(), secrets)
    }
    case "response.incomplete": {
      const e = decoders.incomplete(json)
      const reason = Either.isRight(e) ? nonNull(e.right.response.incomplete_details)?.reason : undefined
      return new ResponseError({ reason: "Incomplete", ...(reason !== undefined ? { description: `reason: ${reason}` } : {}) })
    }
    default:
      return undefined
  }
}

/**
 * Decodes the body of a `/responses` answer into events, up to and including
 * `Completed`. A body that ends before `response.completed` fails with
 * `ResponseError("StreamClosed")`; `response.failed`, `response.incomplete`
 * and `error` events fail with what they report.
 *
 * Pure in the sense that matters: no HTTP, so it is tested (and benchmarked)
 * on bytes.
 *
 * @see protocol.md §5.5
 * @since 0.1.0
 * @category decoding
 */
export const decodeEvents = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  options: { readonly secrets?: ReadonlyArray<string> } = {}
): Stream.Stream<Event, E | UsageLimitReached | ResponseError, R> =>
  Stream.suspend(() => {
    let completed = false
    let failure: UsageLimitReached | ResponseError | undefined
    const secrets = options.secrets ?? []
    return Effect.clockWith((clock) => {
      const now = () => clock.unsafeCurrentTimeMillis()
      return Effect.succeed(
        Sse.decode(bytes).pipe(
          Stream.mapChunksEffect((chunk) => {
            if (failure !== undefined) return Effect.fail(failure)
            const out: Array<Event> = []
            for (const sse of chunk) {
              if (completed) break
              const error = decodeData(sse.data, out, now, secrets)
              if (error !== undefined) {
                // The events before the failure go out first; the failure follows.
                if (out.length === 0) return Effect.fail(error)
                failure = error
                break
              }
              if (out.length > 0 && out[out.length - 1]!._tag === "Completed") completed = true
            }
            return Effect.succeed(Chunk.unsafeFromArray(out))
          }),
          Stream.takeUntil((event) => event._tag === "Completed"),
          Stream.concat(Stream.suspend(() =>
            failure !== undefined
              ? Stream.fail(failure)
              : completed
              ? Stream.empty
              : Stream.fail(new ResponseError({ reason: "StreamClosed", description: "the body ended without it" }))
          ))
        )
      )
    }).pipe(Stream.unwrap)
  })

/**
 * Folds a turn's events into its {@link Result}.
 *
 * @since 0.1.0
 * @category combinators
 */
export const collect = <E, R>(events: Stream.Stream<Event, E, R>): Effect.Effect<Result, E, R> =>
  Effect.suspend(() => {
    const items: Array<Item> = []
    const toolCalls: Array<ToolCall> = []
    let text = ""
    let responseId = ""
    let model: string | undefined
    let usage: Usage | undefined
    let rateLimits: RateLimits | undefined
    const decodeMessage = Schema.decodeUnknownOption(MessageItem)
    return Stream.runForEach(events, (event) =>
      Effect.sync(() => {
        switch (event._tag) {
          case "ItemDone": {
            items.push(event.item)
            const msg = decodeMessage(event.item)
            if (Option.isSome(msg) && msg.value.role === "assistant") {
              for (const part of msg.value.content) if (part.type === "output_text") text += part.text ?? ""
            }
            break
          }
          case "ToolCall":
            toolCalls.push(event.call)
            break
          case "RateLimits":
            rateLimits = event.limits
            break
          case "Created":
            model = event.model
            break
          case "Completed":
            responseId = event.responseId
            usage = event.usage
            break
        }
      })).pipe(Effect.map((): Result => ({
        responseId,
        ...(model !== undefined ? { model } : {}),
        items,
        text,
        toolCalls,
        ...(usage !== undefined ? { usage } : {}),
        ...(rateLimits !== undefined ? { rateLimits } : {})
      })))
  })

const toModelInfo = (wire: typeof ModelInfoWire.Type): ModelInfo => {
  const contextWindow = nonNull(wire.context_window)
  const defaultReasoningEffort = nonNull(wire.default_reasoning_level)
  const baseInstructions = nonNull(wire.base_instructions)
  return {
    slug: wire.slug,
    displayName: nonNull(wire.display_name) ?? wire.slug,
    ...(contextWindow !== undefined ? { contextWindow } : {}),
    ...(defaultReasoningEffort !== undefined ? { defaultReasoningEffort } : {}),
    reasoningEfforts: (nonNull(wire.supported_reasoning_levels) ?? []).map((l) => (typeof l === "string" ? l : l.effort)),
    supportsReasoningSummaries: nonNull(wire.supports_reasoning_summaries) ?? false,
    supportsVerbosity: nonNull(wire.support_verbosity) ?? false,
    supportsParallelToolCalls: nonNull(wire.supports_parallel_tool_calls) ?? false,
    ...(baseInstructions !== undefined ? { baseInstructions } : {})
  }
}

// =============================================================================
// Service
// =============================================================================

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace SubscriptionLLM {
  /**
   * @since 0.1.0
   * @category models
   */
  export type Error = UsageLimitReached | ResponseError | TransportError | TokenManager.Error

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The default conversation id of this service (`prompt_cache_key`, `session-id`). */
    readonly sessionId: string
    /** One turn, as it streams. */
    readonly stream: (request: Request) => Stream.Stream<Event, Error>
    /** One turn, collected. */
    readonly generate: (request: Request) => Effect.Effect<Result, Error>
    /** The model catalog; the bundled list when the backend cannot be asked. */
    readonly models: Effect.Effect<ModelList>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SubscriptionLLM extends Context.Tag("@subauth/core/SubscriptionLLM")<
  SubscriptionLLM,
  SubscriptionLLM.Service
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default {@link DEFAULT_BASE_URL}. */
  readonly baseUrl?: string
  /** Allow an `http://` base URL on a loopback host (tests, the sandbox). */
  readonly allowInsecureHttp?: boolean
  /** Default {@link DEFAULT_ORIGINATOR}. */
  readonly originator?: string
  /** Default {@link USER_AGENT}. */
  readonly userAgent?: string
  /** Default {@link DEFAULT_MODEL}. */
  readonly model?: string
  /** Default `{ effort: "medium" }`; `null` for none. */
  readonly reasoning?: Reasoning | null
  /** Default {@link DEFAULT_CLIENT_VERSION}. */
  readonly clientVersion?: string
  /** Default: a random UUID per service. */
  readonly sessionId?: string
  /** Until the answer's status and headers. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput
  /** Longest silence within a stream; `Duration.infinity` for no limit. Default 5 minutes (codex-rs's `stream_idle_timeout_ms`). */
  readonly idleTimeout?: Duration.DurationInput
  /** Backoff for 5xx and transport failures before the stream starts. Default 4 attempts from 200 ms. */
  readonly retry?: TokenEndpoint.RetryOptions
}

const addRedactedNames = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => [
  ...names,
  ...REDACTED_HEADERS.filter((name) => !names.includes(name))
]


const UNAUTHORIZED = Symbol("Unauthorized")

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SubscriptionLLM.Service, ProviderError, TokenManager | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* checkBaseUrl("baseUrl", options.baseUrl ?? DEFAULT_BASE_URL, options.allowInsecureHttp === true)
    const manager = yield* TokenManager
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
    const originator = options.originator ?? DEFAULT_ORIGINATOR
    const userAgent = options.userAgent ?? USER_AGENT
    const sessionId = options.sessionId ?? globalThis.crypto.randomUUID()
    const defaults: Omit<Defaults, "conversationId"> = {
      model: options.model ?? DEFAULT_MODEL,
      reasoning: options.reasoning === undefined ? { effort: "medium" } : options.reasoning
    }
    const timeout = options.timeout ?? Duration.seconds(60)
    const idleTimeout = Duration.decode(options.idleTimeout ?? Duration.minutes(5))

    // Headers in the order Codex CLI 0.169 sends them; the body keeps content-type's place.
    const authorize = (request: HttpClientRequest.HttpClientRequest, tokens: TokenSet.TokenSet) =>
      request.pipe(
        HttpClientRequest.bearerToken(tokens.accessToken),
        Option.isSome(tokens.accountId) ? HttpClientRequest.setHeader("chatgpt-account-id", tokens.accountId.value) : (r) => r,
        HttpClientRequest.setHeaders({ originator, "user-agent": userAgent })
      )

    /**
     * Sends one request with `tokens` and waits for status and headers. A
     * non-2xx answer is read and classified here; 401 is reported as such.
     */
    const attempt = (
      endpoint: string,
      tokens: TokenSet.TokenSet,
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<
      HttpClientResponse.HttpClientResponse | typeof UNAUTHORIZED,
      UsageLimitReached | ResponseError | TransportError
    > => {
      const secrets = [Redacted.value(tokens.accessToken)]
      return client.execute(authorize(request, tokens)).pipe(
        Effect.mapError((error) =>
          new TransportError({ reason: "ConnectionFailed", endpoint, description: describeTransport(error, secrets) })
        ),
        Effect.flatMap((response): Effect.Effect<
          HttpClientResponse.HttpClientResponse | typeof UNAUTHORIZED,
          UsageLimitReached | ResponseError | TransportError
        > => {
          if (response.status >= 200 && response.status < 300) return Effect.succeed(response)
          return response.text.pipe(
            Effect.orElseSucceed(() => ""),
            Effect.flatMap((text) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                let json: unknown
                try {
                  json = text.length > 0 ? JSON.parse(text) : undefined
                } catch {
                  json = undefined
                }
                const outcome = classifyAnswer(endpoint, { status: response.status, json, text }, now, secrets)
                return outcome === "Unauthorized" ? Effect.succeed<typeof UNAUTHORIZED>(UNAUTHORIZED) : Effect.fail(outcome)
              })
            )
          )
        }),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new TransportError({ reason: "Timeout", endpoint, description: `no answer within ${Duration.format(Duration.decode(timeout))}` })
        }),
        Effect.tapError((error) => Effect.logDebug(`${endpoint}: ${error.message}`))
      )
    }

    /**
     * A valid token, the request, and on a 401 one recovery and one more
     * request; transient failures retried with backoff around each.
     */
    const authorized = (endpoint: string, request: HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function*() {
        const retried = (tokens: Effect.Effect<TokenSet.TokenSet, TokenManager.Error>) =>
          Effect.flatMap(tokens, (t) => Effect.map(attempt(endpoint, t, request), (answer) => [t, answer] as const)).pipe(
            TokenEndpoint.retryTransient(options.retry)
          )
        const [used, first] = yield* retried(manager.get)
        if (first !== UNAUTHORIZED) return first
        yield* Effect.logDebug(`${endpoint}: the access token was refused (401); renewing it and trying once more`)
        const [, second] = yield* retried(manager.recover(used.accessToken))
        if (second !== UNAUTHORIZED) return second
        return yield* new ResponseError({ reason: "Unauthorized", status: 401 })
      }).pipe(
        Effect.locallyWith(Headers.currentRedactedNames, addRedactedNames),
        Effect.annotateLogs({ endpoint })
      )

    const stream = (request: Request): Stream.Stream<Event, SubscriptionLLM.Error> =>
      Effect.gen(function*() {
        const conversationId = request.conversationId ?? sessionId
        const { body, dropped, droppedItems } = buildBody(request, { ...defaults, conversationId })
        for (const name of dropped) {
          yield* Effect.logDebug(`dropped "${name}": the ChatGPT Codex backend rejects it ("Unsupported parameter")`)
        }
        for (const what of droppedItems) yield* Effect.logDebug(`dropped an input item (${what}): it cannot be sent with "store": false`)
        const encoded = yield* Schema.encode(ResponsesRequest)(body as ResponsesRequest).pipe(
          Effect.mapError((error) =>
            new ResponseError({ reason: "InvalidRequest", description: `the request does not encode: ${error.message}` })
          )
        )
        const http = HttpClientRequest.post(`${base}/responses`).pipe(
          HttpClientRequest.setHeaders({
            "session-id": conversationId,
            accept: "text/event-stream",
            "content-type": "application/json"
          }),
          HttpClientRequest.bodyText(JSON.stringify(encoded), "application/json")
        )
        yield* Effect.logDebug(`POST responses (model "${body.model}", ${body.input.length} input items)`)
        const response = yield* authorized("responses", http)
        const limits = rateLimitsOf(response.headers, yield* Clock.currentTimeMillis)
        const bytes = response.stream.pipe(
          Stream.mapError((error) =>
            new ResponseError({ reason: "StreamClosed", description: `the connection failed: ${describeTransport(error, [])}` })
          ),
          Duration.isFinite(idleTimeout)
            ? Stream.timeoutFail(
              () => new TransportError({ reason: "Timeout", endpoint: "responses", description: `no event for ${Duration.format(idleTimeout)}` }),
              idleTimeout
            )
            : identity
        )
        const events = decodeEvents(bytes)
        return limits === undefined ? events : Stream.concat(Stream.make(Event.RateLimits({ limits })), events)
      }).pipe(Stream.unwrap)

    const models: Effect.Effect<ModelList> = Effect.gen(function*() {
      const clientVersion = options.clientVersion ?? DEFAULT_CLIENT_VERSION
      const http = HttpClientRequest.get(`${base}/models`).pipe(
        HttpClientRequest.setUrlParam("client_version", clientVersion),
        HttpClientRequest.setHeader("accept", "application/json")
      )
      const response = yield* authorized("models", http)
      const raw = yield* response.json.pipe(
        Effect.mapError(() => new ResponseError({ reason: "InvalidResponse", status: response.status, description: "the body is not JSON" }))
      )
      const decoded = yield* Schema.decodeUnknown(ModelsResponse)(raw).pipe(
        Effect.mapError(() => new ResponseError({ reason: "InvalidResponse", status: response.status, description: "not a model list" }))
      )
      if (decoded.models.length === 0) {
        return yield* new ResponseError({ reason: "InvalidResponse", status: response.status, description: "an empty model list" })
      }
      return { source: "backend" as const, models: decoded.models.map(toModelInfo) }
    }).pipe(
      Effect.timeout(timeout),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning(`the model list is unavailable (${error.message}); using the bundled list`),
          { source: "bundled" as const, models: BUNDLED_MODELS }
        )
      )
    )

    return {
      sessionId,
      stream,
      generate: (request) => collect(stream(request)),
      models
    }
  })

/**
 * The service, with `authorization` and `chatgpt-account-id` added to the
 * header names that are redacted wherever headers are printed.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<
  SubscriptionLLM,
  ProviderError,
  TokenManager | HttpClient.HttpClient
> =>
  Layer.merge(
    Layer.effect(SubscriptionLLM, make(options)),
    Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, addRedactedNames)
  )

/**
 * Options read through `Config`, once, when the layer is built; an option
 * whose config is not set keeps its default:
 *
 * ```ts
 * SubscriptionLLM.layerConfig({
 *   baseUrl: Config.string("SUBAUTH_CODEX_BASE_URL"),
 *   model: Config.string("SUBAUTH_MODEL")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: {
  readonly [K in "baseUrl" | "model" | "originator" | "userAgent" | "clientVersion" | "allowInsecureHttp"]?: Config.Config<
    NonNullable<Options[K]>
  >
}): Layer.Layer<SubscriptionLLM, ProviderError | ConfigError.ConfigError, TokenManager | HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all(Record.map(options as Record<string, Config.Config<unknown>>, Config.option)),
      (values) => layer(Record.getSomes(values) as Options)
    )
  )

/**
 * One turn, as it streams, from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (request: Request): Stream.Stream<Event, SubscriptionLLM.Error, SubscriptionLLM> =>
  Stream.unwrap(Effect.map(SubscriptionLLM, (llm) => llm.stream(request)))

/**
 * One turn, collected, from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const generate = (request: Request): Effect.Effect<Result, SubscriptionLLM.Error, SubscriptionLLM> =>
  Effect.flatMap(SubscriptionLLM, (llm) => llm.generate(request))

/**
 * The model catalog from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const models: Effect.Effect<ModelList, never, SubscriptionLLM> = Effect.flatMap(SubscriptionLLM, (llm) => llm.models)
