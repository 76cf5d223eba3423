/**
 * The body of a `/responses` answer as events: SSE framing, then each `data`
 * payload decoded with the wire schemas into an {@link Event}; and a turn's
 * events folded into its {@link Result}. No HTTP, so it is tested (and
 * benchmarked) on bytes.
 *
 * @see protocol.md §5.5
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { TransportError } from "../AuthError.js"
import { ResponseError, type UsageLimitReached } from "../BackendError.js"
import * as CodexWire from "../CodexWire.js"
import type { Event, Item, RateLimits, Result, ToolCall, Usage } from "../SubscriptionLLM.js"
import { nonNull, streamFailure } from "./answers.js"
import { parseJson } from "./json.js"
import * as Sse from "./sse.js"

// The constructors are structural: these make the same values as `SubscriptionLLM.Event`.
const Events = Data.taggedEnum<Event>()

const usageOf = (wire: typeof CodexWire.Usage.Type | null | undefined): Usage | undefined => {
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
  text: Schema.decodeUnknownEither(CodexWire.TextDeltaEvent),
  reasoning: Schema.decodeUnknownEither(CodexWire.ReasoningDeltaEvent),
  itemDone: Schema.decodeUnknownEither(CodexWire.ItemDoneEvent),
  created: Schema.decodeUnknownEither(CodexWire.CreatedEvent),
  completed: Schema.decodeUnknownEither(CodexWire.CompletedEvent),
  failed: Schema.decodeUnknownEither(CodexWire.FailedEvent),
  incomplete: Schema.decodeUnknownEither(CodexWire.IncompleteEvent),
  error: Schema.decodeUnknownEither(CodexWire.ErrorObject),
  functionCall: Schema.decodeUnknownEither(CodexWire.FunctionCallItem)
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
  const parsed = parseJson(data)
  if (Option.isNone(parsed)) return undefined
  const json = parsed.value
  const type = typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined
  switch (type) {
    case "response.output_text.delta": {
      const e = decoders.text(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Events.TextDelta({ itemId: e.right.item_id, delta: e.right.delta }))
      return undefined
    }
    case "response.reasoning_summary_text.delta": {
      const e = decoders.reasoning(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Events.ReasoningSummaryDelta({ itemId: e.right.item_id, summaryIndex: e.right.summary_index ?? 0, delta: e.right.delta }))
      return undefined
    }
    case "response.output_item.done": {
      const e = decoders.itemDone(json)
      if (Either.isLeft(e)) return invalid(type)
      const item = e.right.item
      out.push(Events.ItemDone({ item }))
      if (item.type === "function_call") {
        const call = decoders.functionCall(item)
        if (Either.isLeft(call)) return invalid(`${type}" with a "function_call`)
        out.push(Events.ToolCall({ call: { callId: call.right.call_id, name: call.right.name, arguments: call.right.arguments } }))
      }
      return undefined
    }
    case "response.created": {
      const e = decoders.created(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Events.Created({ responseId: e.right.response.id, model: e.right.response.model }))
      return undefined
    }
    case "response.completed": {
      const e = decoders.completed(json)
      if (Either.isLeft(e)) return invalid(type)
      out.push(Events.Completed({ responseId: e.right.response.id, usage: usageOf(e.right.response.usage) }))
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
      // An answer cut short is still the answer (OpenAI's "finish_reason": "length"), not a failure.
      const e = decoders.incomplete(json)
      if (Either.isLeft(e)) return invalid(type)
      const response = e.right.response
      out.push(Events.Incomplete({
        responseId: response.id ?? "",
        usage: usageOf(response.usage),
        reason: nonNull(nonNull(response.incomplete_details)?.reason)
      }))
      return undefined
    }
    default:
      return undefined
  }
}

/** The event that ends a turn: `Completed`, or `Incomplete` (the answer stopped early). */
const isLast = (event: Event): boolean => event._tag === "Completed" || event._tag === "Incomplete"

/**
 * Decodes the body of a `/responses` answer into events, up to and including
 * `Completed` or `Incomplete` (`response.incomplete`: the answer stopped
 * early, which is an answer). A body that ends before either fails with
 * `ResponseError("StreamClosed")`; `response.failed` and `error` events fail
 * with what they report.
 *
 * Pure in the sense that matters: no HTTP, so it is tested (and benchmarked)
 * on bytes.
 *
 * @see protocol.md §5.5
 */
export const decodeEvents = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  options: {
    readonly secrets?: ReadonlyArray<string>
    /** Longest line and event; default `Limits.MAX_SSE_LINE_LENGTH` and `MAX_SSE_EVENT_LENGTH`. */
    readonly limits?: Sse.SseLimits
    /** Longest wait for the next event (any event, also one this module skips). Default: none. */
    readonly idleTimeout?: Duration.Duration
    /** Longest the whole stream may take, however it trickles. Default: none. */
    readonly streamTimeout?: Duration.Duration
  } = {}
): Stream.Stream<Event, E | UsageLimitReached | ResponseError | TransportError, R> =>
  Stream.suspend(() => {
    let completed = false
    let failure: UsageLimitReached | ResponseError | undefined
    const secrets = options.secrets ?? []
    const { idleTimeout, streamTimeout } = options
    const framed: Stream.Stream<Sse.SseEvent, E | ResponseError, R> = Stream.mapError(
      Sse.decode(bytes, options.limits),
      (error): E | ResponseError =>
        error instanceof Sse.SseLimitError
          ? new ResponseError({ reason: "InvalidResponse", description: `${error.message}; it was not read further` })
          : error
    )
    const sse: Stream.Stream<Sse.SseEvent, E | ResponseError | TransportError, R> =
      idleTimeout !== undefined && Duration.isFinite(idleTimeout)
        ? Sse.timeoutBetween(framed, idleTimeout, () =>
          new TransportError({ reason: "Timeout", endpoint: "responses", description: `no event for ${Duration.format(idleTimeout)}` }))
        : framed
    return Effect.clockWith((clock) => {
      const now = () => clock.unsafeCurrentTimeMillis()
      const decoded = sse.pipe(
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
              if (out.length > 0 && isLast(out[out.length - 1]!)) completed = true
            }
            return Effect.succeed(Chunk.unsafeFromArray(out))
          }),
          Stream.takeUntil(isLast),
          Stream.concat(Stream.suspend(() =>
            failure !== undefined
              ? Stream.fail(failure)
              : completed
              ? Stream.empty
              : Stream.fail(new ResponseError({ reason: "StreamClosed", description: "the body ended without it" }))
          ))
        )
      return Effect.succeed(
        streamTimeout !== undefined && Duration.isFinite(streamTimeout)
          ? Sse.timeoutTotal(decoded, streamTimeout, () =>
            new TransportError({
              reason: "Timeout",
              endpoint: "responses",
              description: `the answer took longer than ${Duration.format(streamTimeout)} in all`
            }))
          : decoded
      )
    }).pipe(Stream.unwrap)
  })

/**
 * Folds a turn's events into its {@link Result}.
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
    let incomplete: { readonly reason: string | undefined } | undefined
    return Stream.runForEach(events, (event) =>
      Effect.sync(() => {
        switch (event._tag) {
          case "ItemDone": {
            items.push(event.item)
            text += Option.getOrElse(CodexWire.assistantText(event.item), () => "")
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
          case "Incomplete":
            responseId = event.responseId
            usage = event.usage
            incomplete = { reason: event.reason }
            break
        }
      })).pipe(Effect.map((): Result => ({
        responseId,
        ...(model !== undefined ? { model } : {}),
        items,
        text,
        toolCalls,
        ...(usage !== undefined ? { usage } : {}),
        ...(rateLimits !== undefined ? { rateLimits } : {}),
        ...(incomplete !== undefined ? { incomplete } : {})
      })))
  })
