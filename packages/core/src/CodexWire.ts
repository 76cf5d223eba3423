/**
 * The ChatGPT Codex backend's wire format, in its own snake_case: the items of
 * the Responses API, the body of `POST {base}/responses`, the stream's events,
 * the model catalog and error bodies. `SubscriptionLLM` speaks it; the proxy
 * (`@subauth/server`), the fakes (`@subauth/testing`) and the benchmarks read
 * the same schemas.
 *
 * Lenient where the backend varies (usage, catalog entries) and where items
 * must travel back as they came; each such place says so.
 *
 * @see protocol.md §5
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

// =============================================================================
// Items
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

/**
 * A content part of a `message` item, as far as it is read here.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })

/**
 * A `message` item, as far as it is read here.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageItem = Schema.Struct({
  type: Schema.Literal("message"),
  role: Schema.String,
  content: Schema.Array(ContentPart)
})

const decodeMessage = Schema.decodeUnknownOption(MessageItem)

/**
 * The text of an assistant `message` item (its `output_text` parts joined),
 * or none when the item is not one.
 *
 * @since 0.1.0
 * @category utils
 */
export const assistantText = (item: Item): Option.Option<string> =>
  Option.flatMap(decodeMessage(item), (message) =>
    message.role === "assistant"
      ? Option.some(message.content.map((part) => (part.type === "output_text" ? part.text ?? "" : "")).join(""))
      : Option.none())

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
 * The answer to a function call the model made (its `call_id`).
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
// Request
// =============================================================================

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

/**
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningEffort = Schema.Literal("none", "minimal", "low", "medium", "high", "xhigh")

/**
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningSummary = Schema.Literal("auto", "concise", "detailed")

/**
 * The request's `reasoning`: effort, and whether summaries are streamed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reasoning = Schema.Struct({
  effort: Schema.optionalWith(ReasoningEffort, { exact: true }),
  summary: Schema.optionalWith(ReasoningSummary, { exact: true })
})

/**
 * The request's `text`: verbosity, and a JSON schema for structured output.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextOptions = Schema.Struct({
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

/**
 * @since 0.1.0
 * @category schemas
 */
export const ToolChoice = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ type: Schema.Literal("function"), name: Schema.String })
)

/**
 * The longest conversation id (`prompt_cache_key`, `session-id`): Codex sends
 * a UUID.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_SESSION_ID_LENGTH = 256

/**
 * A conversation id, sent as `prompt_cache_key` and as the `session-id`
 * header: 1 to {@link MAX_SESSION_ID_LENGTH} visible ASCII characters (spaces
 * inside), so that it can travel in a header as it is.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionId = Schema.String.pipe(
  Schema.filter(
    (s) => s.length <= MAX_SESSION_ID_LENGTH && /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(s),
    {
      message: () =>
        `must be 1 to ${MAX_SESSION_ID_LENGTH} visible ASCII characters (it is sent as the "session-id" header)`
    }
  )
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
  tool_choice: ToolChoice,
  parallel_tool_calls: Schema.Boolean,
  reasoning: Schema.NullOr(Reasoning),
  store: Schema.Literal(false),
  include: Schema.Array(Schema.String),
  service_tier: Schema.optionalWith(Schema.Literal("priority", "flex"), { exact: true }),
  prompt_cache_key: SessionId,
  text: Schema.optionalWith(TextOptions, { exact: true })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ResponsesRequest = typeof ResponsesRequest.Type

// =============================================================================
// Errors
// =============================================================================

/**
 * An error as the backend reports it, in an HTTP body (`error`) or in
 * `response.failed` (`response.error`).
 *
 * @see protocol.md §5.5, §5.6
 * @since 0.1.0
 * @category schemas
 */
export const ErrorObject = Schema.Struct({
  type: Schema.optional(Schema.NullOr(Schema.String)),
  code: Schema.optional(Schema.NullOr(Schema.String)),
  message: Schema.optional(Schema.NullOr(Schema.String)),
  plan_type: Schema.optional(Schema.NullOr(Schema.String)),
  resets_at: Schema.optional(Schema.NullOr(Schema.Number)),
  resets_in_seconds: Schema.optional(Schema.NullOr(Schema.Number))
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ErrorObject = typeof ErrorObject.Type

/**
 * The body of a non-2xx answer: OpenAI's `error` object, or FastAPI's `detail`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({
  error: Schema.optional(ErrorObject),
  detail: Schema.optional(Schema.Unknown)
})

// =============================================================================
// Stream events
// =============================================================================

/**
 * `usage` of `response.completed`. Lenient: the minimal stream the Codex CLI
 * accepts has no usage at all.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  input_tokens: Schema.optional(Schema.Number),
  input_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ cached_tokens: Schema.optional(Schema.Number) }))),
  output_tokens: Schema.optional(Schema.Number),
  output_tokens_details: Schema.optional(
    Schema.NullOr(Schema.Struct({ reasoning_tokens: Schema.optional(Schema.Number) }))
  ),
  total_tokens: Schema.optional(Schema.Number)
})

/**
 * `response.output_text.delta`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextDeltaEvent = Schema.Struct({ item_id: Schema.optional(Schema.String), delta: Schema.String })

/**
 * `response.reasoning_summary_text.delta`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningDeltaEvent = Schema.Struct({
  item_id: Schema.optional(Schema.String),
  summary_index: Schema.optional(Schema.Number),
  delta: Schema.String
})

/**
 * `response.output_item.done`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ItemDoneEvent = Schema.Struct({ item: Item })

/**
 * `response.created`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CreatedEvent = Schema.Struct({
  response: Schema.Struct({ id: Schema.String, model: Schema.optional(Schema.String) })
})

/**
 * `response.completed`; its `output` may be empty and is not read.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletedEvent = Schema.Struct({
  response: Schema.Struct({ id: Schema.String, usage: Schema.optional(Schema.NullOr(Usage)) })
})

/**
 * `response.failed`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FailedEvent = Schema.Struct({
  response: Schema.Struct({ error: Schema.optional(Schema.NullOr(ErrorObject)) })
})

/**
 * `response.incomplete`: the answer stopped early, and why. Lenient: only the
 * reason is needed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IncompleteEvent = Schema.Struct({
  response: Schema.Struct({
    id: Schema.optional(Schema.String),
    usage: Schema.optional(Schema.NullOr(Usage)),
    incomplete_details: Schema.optional(Schema.NullOr(Schema.Struct({ reason: Schema.optional(Schema.NullOr(Schema.String)) })))
  })
})

// =============================================================================
// Model catalog
// =============================================================================

/**
 * One entry of the catalog. Lenient: entries differ between backend versions;
 * only `slug` is needed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelInfo = Schema.Struct({
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
export const ModelsResponse = Schema.Struct({ models: Schema.Array(ModelInfo) })

// =============================================================================
// Usage (`GET {chatgpt_base_url}/wham/usage`)
// =============================================================================

const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * A window of the usage endpoint: `used_percent` (0 to 100),
 * `limit_window_seconds`, and when it resets (`reset_at`, unix seconds, or
 * `reset_after_seconds`).
 *
 * @see protocol.md §5.1
 * @since 0.1.0
 * @category schemas
 */
export const UsageWindow = Schema.Struct({
  used_percent: nullable(Schema.Number),
  limit_window_seconds: nullable(Schema.Number),
  reset_after_seconds: nullable(Schema.Number),
  reset_at: nullable(Schema.Number)
})

/**
 * A family's state: whether requests are allowed, whether the limit is
 * reached, and its windows (each read on its own: a window that does not
 * decode is left out, not the report).
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageRateLimit = Schema.Struct({
  allowed: nullable(Schema.Boolean),
  limit_reached: nullable(Schema.Boolean),
  primary_window: Schema.optional(Schema.Unknown),
  secondary_window: Schema.optional(Schema.Unknown)
})

/**
 * Credits; the balance is a decimal string (`"5.39"`), or a number in some
 * answers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageCredits = Schema.Struct({
  has_credits: nullable(Schema.Boolean),
  unlimited: nullable(Schema.Boolean),
  balance: nullable(Schema.Union(Schema.String, Schema.Number))
})

/**
 * An entry of `additional_rate_limits`: another family (`metered_feature`,
 * e.g. `codex_other`), its display name and state.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageAdditionalRateLimit = Schema.Struct({
  limit_name: nullable(Schema.String),
  metered_feature: nullable(Schema.String),
  rate_limit: Schema.optional(Schema.Unknown)
})

/**
 * The answer of the usage endpoint. Every part may be missing, and each is
 * read on its own (see {@link UsageRateLimit}): the body is undocumented and
 * has varied, so one part the client does not understand costs only that
 * part.
 *
 * @see protocol.md §5.1
 * @since 0.1.0
 * @category schemas
 */
export const UsageResponse = Schema.Struct({
  plan_type: Schema.optional(Schema.Unknown),
  rate_limit: Schema.optional(Schema.Unknown),
  code_review_rate_limit: Schema.optional(Schema.Unknown),
  additional_rate_limits: Schema.optional(Schema.Unknown),
  credits: Schema.optional(Schema.Unknown)
})
