/**
 * OpenAI's Responses API (`POST /v1/responses`) passed through to the Codex
 * backend with the backend's rules applied:
 *
 * - always `store: false` and `stream: true` upstream (a `store: true` from the
 *   client is dropped); item ids are stripped by `SubscriptionLLM`, since
 *   nothing is stored upstream that they could point at; `item_reference`s
 *   and `previous_response_id` are resolved by the proxy from its item store
 *   (see `OpenAIProxy`), never dropped;
 * - `instructions` travel as a `developer` message, as Codex CLI 0.169 sends
 *   its prompts (the backend has refused custom top-level instructions);
 * - easy messages (`{ role, content: "text" }`) become `message` items;
 * - function tools, `tool_choice`, `parallel_tool_calls`, `reasoning`,
 *   `text` (`format`, `verbosity`), `service_tier` (`priority`, `flex`) and
 *   `prompt_cache_key` are forwarded; sampling parameters (`temperature`,
 *   `top_p`, `max_output_tokens`, …), `include`, `metadata`, `user`,
 *   `truncation` are dropped;
 * - what needs server-side state or tools the proxy cannot forward
 *   (`conversation`, `background`, stored `prompt`s, non-function tools) is a
 *   400.
 *
 * A streaming client gets a complete, well-formed event sequence
 * (`response.created`, per item `output_item.added` / deltas / `done`,
 * `response.completed` with the collected `output`, which the backend itself
 * may leave empty, or `response.incomplete` for an answer cut short); a
 * non-streaming client gets the collected `response`.
 *
 * @since 0.1.0
 */
import { CodexWire, SubscriptionLLM } from "@subauth/core"
import { Either, Option, Schema } from "effect"
import { decode, invalid, Part, type Result, type Translation, unsupported } from "./internal/body.js"
import * as Sse from "./internal/sse.js"
import { formatOf, JsonSchemaFormat, serviceTierOf } from "./internal/translate.js"
import type { OpenAIError } from "./ProxyError.js"

// =============================================================================
// Request (wire)
// =============================================================================

const Loose = Schema.Struct({}, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

const TextFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({ type: Schema.Literal("json_schema"), ...JsonSchemaFormat.fields })
)

/**
 * The fields of `POST /v1/responses` the proxy reads. Any other field is
 * accepted and dropped.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponsesRequest = Schema.Struct({
  model: Schema.String,
  input: Schema.Union(Schema.String, Schema.Array(Loose)),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Part))),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Union(Schema.Literal("none", "auto", "required"), Part))),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  reasoning: Schema.optional(Schema.NullOr(Schema.Struct({
    effort: Schema.optional(Schema.NullOr(Schema.Literal("none", "minimal", "low", "medium", "high", "xhigh"))),
    summary: Schema.optional(Schema.NullOr(Schema.Literal("auto", "concise", "detailed")))
  }))),
  text: Schema.optional(Schema.NullOr(Schema.Struct({
    format: Schema.optional(Schema.NullOr(TextFormat)),
    verbosity: Schema.optional(Schema.NullOr(Schema.Literal("low", "medium", "high")))
  }))),
  service_tier: Schema.optional(Schema.NullOr(Schema.String)),
  prompt_cache_key: Schema.optional(Schema.NullOr(CodexWire.SessionId)),
  previous_response_id: Schema.optional(Schema.NullOr(Schema.String)),
  conversation: Schema.optional(Schema.Unknown),
  background: Schema.optional(Schema.NullOr(Schema.Boolean)),
  prompt: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ResponsesRequest = typeof ResponsesRequest.Type

const ROLES: ReadonlySet<string> = new Set(["user", "assistant", "system", "developer"])

// =============================================================================
// Request → SubscriptionLLM.Request (pure)
// =============================================================================

/**
 * What the response object repeats of the request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Echo {
  readonly instructions: string | null
  readonly tools: ReadonlyArray<unknown>
  readonly tool_choice: unknown
  readonly parallel_tool_calls: boolean
  readonly store: false
  readonly metadata: Readonly<Record<string, never>>
}

/**
 * A translated request: what to send, how to answer, and the fields that
 * were accepted but not forwarded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Translated extends Translation {
  readonly echo: Echo
  /** The response this one continues: its conversation comes first (resolved by the proxy's item store). */
  readonly previousResponseId: string | undefined
}

/**
 * An input item as the backend takes it: easy messages (no `type`, or string
 * `content`) become `message` items with content parts; other items pass.
 *
 * @since 0.1.0
 * @category utils
 */
export const inputItem = (item: typeof Loose.Type, param: string): Result<CodexWire.Item> => {
  const type = item.type ?? undefined
  if (type !== undefined && typeof type !== "string") return Either.left(invalid(`${param}.type`, "must be a string"))
  if (type !== undefined && type !== "message") return Either.right(item as CodexWire.Item)
  const role = item.role
  if (typeof role !== "string" || !ROLES.has(role)) {
    return Either.left(invalid(
      `${param}.role`,
      `must be one of "user", "assistant", "system" or "developer", not ${role === undefined ? "missing" : JSON.stringify(role)}`
    ))
  }
  const content = item.content
  if (typeof content === "string") {
    const part = role === "assistant" ? "output_text" : "input_text"
    return Either.right({ ...item, type: "message", role, content: [{ type: part, text: content }] })
  }
  if (!Array.isArray(content)) return Either.left(invalid(`${param}.content`, "must be a string or a list of content parts"))
  return Either.right({ ...item, type: "message", role, content })
}

const toolOf = (tool: typeof Part.Type, i: number): Result<SubscriptionLLM.Tool> => {
  if (tool.type !== "function") {
    return Either.left(unsupported(`tools[${i}]`, `tools of type "${tool.type}" cannot be forwarded; only "function"`))
  }
  if (typeof tool.name !== "string") return Either.left(invalid(`tools[${i}].name`, "a function tool needs a name"))
  return Either.right({
    name: tool.name,
    ...(typeof tool.description === "string" ? { description: tool.description } : {}),
    parameters: tool.parameters ?? { type: "object", properties: {} },
    ...(typeof tool.strict === "boolean" ? { strict: tool.strict } : {})
  })
}

const toolChoiceOf = (choice: "none" | "auto" | "required" | typeof Part.Type): Result<SubscriptionLLM.ToolChoice> =>
  typeof choice === "string"
    ? Either.right(choice)
    : choice.type === "function" && typeof choice.name === "string"
    ? Either.right({ type: "function", name: choice.name })
    : Either.left(unsupported("tool_choice", `a tool choice of type "${choice.type}" is not supported`))

const refuse = (holds: boolean, param: string, description: string): Result<void> =>
  holds ? Either.left(unsupported(param, description)) : Either.void

/**
 * Decodes a request body and translates it, or says what is wrong with it.
 *
 * @since 0.1.0
 * @category utils
 */
export const translate = (json: unknown): Result<Translated> =>
  Either.gen(function*() {
    const { body, ignored } = yield* decode(ResponsesRequest, json)
    yield* refuse(
      body.conversation != null,
      "conversation",
      "conversations cannot be referenced: the backend stores nothing (\"store\": false); send the whole conversation " +
        "in \"input\", or continue a response of this proxy with \"previous_response_id\""
    )
    yield* refuse(body.background === true, "background", "background responses are not supported")
    yield* refuse(body.prompt != null, "prompt", "stored prompts are not available")
    const input = typeof body.input === "string"
      ? [SubscriptionLLM.userMessage(body.input)]
      : yield* Either.all(body.input.map((item, i) => inputItem(item, `input[${i}]`)))
    const tools = body.tools != null ? yield* Either.all(body.tools.map(toolOf)) : undefined
    const toolChoice = body.tool_choice != null ? yield* toolChoiceOf(body.tool_choice) : undefined
    const format = body.text?.format != null
      ? formatOf(body.text.format.type === "json_schema" ? { type: "json_schema", json_schema: body.text.format } : body.text.format)
      : undefined
    const verbosity = body.text?.verbosity ?? undefined
    const text = format !== undefined || verbosity !== undefined
      ? { ...(verbosity !== undefined ? { verbosity } : {}), ...(format !== undefined ? { format } : {}) }
      : undefined
    const reasoning = body.reasoning != null
      ? {
        ...(body.reasoning.effort != null ? { effort: body.reasoning.effort } : {}),
        ...(body.reasoning.summary != null ? { summary: body.reasoning.summary } : {})
      }
      : undefined
    const serviceTier = serviceTierOf(body.service_tier)
    const request: Translated["request"] = {
      model: body.model,
      input,
      ...(body.instructions != null && body.instructions !== "" ? { system: body.instructions } : {}),
      ...(tools !== undefined ? { tools } : {}),
      ...(toolChoice !== undefined ? { toolChoice } : {}),
      ...(body.parallel_tool_calls != null ? { parallelToolCalls: body.parallel_tool_calls } : {}),
      ...(reasoning !== undefined ? { reasoning } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(serviceTier !== undefined ? { serviceTier } : {}),
      ...(body.prompt_cache_key != null ? { conversationId: body.prompt_cache_key } : {})
    }
    const echo: Echo = {
      instructions: body.instructions ?? null,
      tools: body.tools ?? [],
      tool_choice: body.tool_choice ?? "auto",
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      store: false,
      metadata: {}
    }
    const dropped = [...ignored, ...(body.service_tier != null && serviceTier === undefined ? ["service_tier"] : [])]
    return {
      request,
      stream: body.stream === true,
      echo,
      dropped,
      previousResponseId: body.previous_response_id ?? undefined
    }
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
  /** The response id until the backend names its own. */
  readonly id: string
  /** Unix seconds. */
  readonly createdAt: number
  readonly model: string
  readonly echo: Echo
  readonly previousResponseId?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly input_tokens: number
  readonly input_tokens_details: { readonly cached_tokens: number }
  readonly output_tokens: number
  readonly output_tokens_details: { readonly reasoning_tokens: number }
  readonly total_tokens: number
}

/**
 * A `response` object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Response extends Echo {
  readonly id: string
  readonly object: "response"
  readonly created_at: number
  readonly status: "in_progress" | "completed" | "incomplete" | "failed"
  readonly error: { readonly code: string; readonly message: string } | null
  readonly incomplete_details: { readonly reason: string } | null
  readonly previous_response_id: string | null
  readonly model: string
  readonly output: ReadonlyArray<CodexWire.Item>
  readonly usage: Usage | null
}

/**
 * `usage` in the Responses API's words (zeros when the backend sent none).
 *
 * @since 0.1.0
 * @category utils
 */
export const usageOf = (usage: SubscriptionLLM.Usage | undefined): Usage => ({
  input_tokens: usage?.inputTokens ?? 0,
  input_tokens_details: { cached_tokens: usage?.cachedInputTokens ?? 0 },
  output_tokens: usage?.outputTokens ?? 0,
  output_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
  total_tokens: usage?.totalTokens ?? 0
})

const response = (
  meta: Meta,
  fields: Pick<Response, "id" | "model" | "status" | "output"> & Partial<Pick<Response, "usage" | "error" | "incomplete_details">>
): Response => ({
  id: fields.id,
  object: "response",
  created_at: meta.createdAt,
  status: fields.status,
  error: fields.error ?? null,
  incomplete_details: fields.incomplete_details ?? null,
  ...meta.echo,
  previous_response_id: meta.previousResponseId ?? null,
  model: fields.model,
  output: fields.output,
  usage: fields.usage ?? null
})

/**
 * `incomplete_details` of an answer the backend cut short: its reason, or
 * `max_output_tokens` when it gave none (OpenAI's reasons are that and
 * `content_filter`).
 *
 * @since 0.1.0
 * @category utils
 */
export const incompleteDetailsOf = (incomplete: SubscriptionLLM.Incomplete): { readonly reason: string } => ({
  reason: incomplete.reason ?? "max_output_tokens"
})

/**
 * The id a turn's response goes by: the backend's, or the proxy's own when
 * the backend named none.
 *
 * @since 0.1.0
 * @category utils
 */
export const responseIdOf = (backendId: string, meta: Meta): string => (backendId !== "" ? backendId : meta.id)

/**
 * The `response` of a finished turn: its items as the backend finished them;
 * `status: "incomplete"` with `incomplete_details` when the backend cut the
 * answer short.
 *
 * @since 0.1.0
 * @category utils
 */
export const responseOf = (result: SubscriptionLLM.Result, meta: Meta): Response =>
  response(meta, {
    id: responseIdOf(result.responseId, meta),
    model: result.model ?? meta.model,
    status: result.incomplete !== undefined ? "incomplete" : "completed",
    output: result.items,
    usage: usageOf(result.usage),
    ...(result.incomplete !== undefined ? { incomplete_details: incompleteDetailsOf(result.incomplete) } : {})
  })

interface Open {
  readonly kind: "message" | "reasoning"
  readonly id: string
  /** The id was made up here (a delta without `item_id`): the finished item's id replaces it. */
  readonly synthetic: boolean
  readonly index: number
  text: string
  readonly summaries: Map<number, string>
}

/**
 * The Responses stream of a turn, as SSE: `response.created` and
 * `response.in_progress`, then for each item `response.output_item.added`, its
 * content events (text and reasoning-summary deltas as they come; a function
 * call's arguments at once) and `response.output_item.done` with the item as
 * the backend finished it, then `response.completed` with all items and the
 * usage, or `response.incomplete` (`status: "incomplete"`, `incomplete_details`)
 * when the backend cut the answer short. A failure is a `response.failed`
 * whose `response.error` says why.
 *
 * @since 0.1.0
 * @category utils
 */
export const encoder = (meta: Meta): Sse.Encoder => {
  let sequence = 0
  let id = meta.id
  let model = meta.model
  let created = false
  let next = 0
  let open: Open | undefined
  const output: Array<CodexWire.Item> = []

  const emit = (type: string, fields: Record<string, unknown>) =>
    Sse.named(type, { type, sequence_number: sequence++, ...fields })
  const start = () => {
    if (created) return ""
    created = true
    const snapshot = response(meta, { id, model, status: "in_progress", output: [] })
    return emit("response.created", { response: snapshot }) + emit("response.in_progress", { response: snapshot })
  }
  const openItem = (kind: Open["kind"], itemId: string | undefined): [Open, string] => {
    const index = next++
    const item: Open = {
      kind,
      id: itemId ?? `${kind === "message" ? "msg" : "rs"}_${index}`,
      synthetic: itemId === undefined,
      index,
      text: "",
      summaries: new Map()
    }
    open = item
    const added = kind === "message"
      ? emit("response.output_item.added", {
        output_index: index,
        item: { id: item.id, type: "message", status: "in_progress", role: "assistant", content: [] }
      }) +
        emit("response.content_part.added", {
          item_id: item.id,
          output_index: index,
          content_index: 0,
          part: { type: "output_text", annotations: [], text: "" }
        })
      : emit("response.output_item.added", { output_index: index, item: { id: item.id, type: "reasoning", summary: [] } })
    return [item, added]
  }
  const isOpen = (kind: Open["kind"], itemId: string | undefined): boolean =>
    open !== undefined && open.kind === kind && (itemId === undefined || open.synthetic || itemId === open.id)
  const current = (kind: Open["kind"], itemId: string | undefined): [Open, string] =>
    isOpen(kind, itemId) ? [open!, ""] : openItem(kind, itemId)

  const closeMessage = (item: Open, text: string) => {
    const fields = { item_id: item.id, output_index: item.index, content_index: 0 }
    return (text.length > item.text.length && text.startsWith(item.text)
      ? emit("response.output_text.delta", { ...fields, delta: text.slice(item.text.length), logprobs: [] })
      : "") +
      emit("response.output_text.done", { ...fields, text, logprobs: [] }) +
      emit("response.content_part.done", { ...fields, part: { type: "output_text", annotations: [], text } })
  }
  const closeReasoning = (item: Open) =>
    [...item.summaries].map(([summary_index, text]) => {
      const fields = { item_id: item.id, output_index: item.index, summary_index }
      return emit("response.reasoning_summary_text.done", { ...fields, text }) +
        emit("response.reasoning_summary_part.done", { ...fields, part: { type: "summary_text", text } })
    }).join("")

  const itemDone = (item: CodexWire.Item): string => {
    const itemId = typeof item.id === "string" ? item.id : undefined
    const text = CodexWire.assistantText(item)
    let events = ""
    let index: number
    if (Option.isSome(text)) {
      const [message, added] = current("message", itemId)
      events = added + closeMessage(message, text.value)
      index = message.index
    } else if (item.type === "reasoning" && isOpen("reasoning", itemId)) {
      events = closeReasoning(open!)
      index = open!.index
    } else {
      index = next++
      const isCall = item.type === "function_call" && typeof item.arguments === "string"
      events = emit("response.output_item.added", {
        output_index: index,
        item: isCall ? { ...item, status: "in_progress", arguments: "" } : item
      })
      if (isCall) {
        const fields = { item_id: itemId ?? `fc_${index}`, output_index: index }
        events += emit("response.function_call_arguments.delta", { ...fields, delta: item.arguments }) +
          emit("response.function_call_arguments.done", { ...fields, arguments: item.arguments })
      }
    }
    open = undefined
    output.push(item)
    return events + emit("response.output_item.done", { output_index: index, item })
  }

  return {
    event: (event) => {
      switch (event._tag) {
        case "Created":
          id = event.responseId
          if (event.model !== undefined) model = event.model
          return start()
        case "TextDelta": {
          const head = start()
          const [item, added] = current("message", event.itemId)
          item.text += event.delta
          return head + added +
            emit("response.output_text.delta", {
              item_id: item.id,
              output_index: item.index,
              content_index: 0,
              delta: event.delta,
              logprobs: []
            })
        }
        case "ReasoningSummaryDelta": {
          const head = start()
          const [item, added] = current("reasoning", event.itemId)
          const fields = { item_id: item.id, output_index: item.index, summary_index: event.summaryIndex }
          const before = item.summaries.get(event.summaryIndex)
          item.summaries.set(event.summaryIndex, (before ?? "") + event.delta)
          return head + added +
            (before === undefined
              ? emit("response.reasoning_summary_part.added", { ...fields, part: { type: "summary_text", text: "" } })
              : "") +
            emit("response.reasoning_summary_text.delta", { ...fields, delta: event.delta })
        }
        case "ItemDone":
          return start() + itemDone(event.item)
        case "Completed":
        case "Incomplete": {
          const incomplete = event._tag === "Incomplete"
          return start() +
            emit(incomplete ? "response.incomplete" : "response.completed", {
              response: response(meta, {
                id: event.responseId !== "" ? event.responseId : id,
                model,
                status: incomplete ? "incomplete" : "completed",
                output,
                usage: usageOf(event.usage),
                ...(incomplete ? { incomplete_details: incompleteDetailsOf(event) } : {})
              })
            })
        }
        default:
          return ""
      }
    },
    failure: (error: OpenAIError) =>
      start() +
      emit("response.failed", {
        response: response(meta, {
          id,
          model,
          status: "failed",
          output,
          error: { code: error.code ?? error.type, message: error.message }
        })
      }),
    end: () => ""
  }
}
