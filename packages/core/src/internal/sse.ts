/**
 * Server-sent events framing (WHATWG HTML §9.2.6, "Interpreting an event
 * stream"), incremental and allocation-light: text goes in as it arrives, whole
 * events come out. Only `event` and `data` matter here (the Codex backend
 * dispatches on the JSON `type` inside `data`); `id`, `retry` and comments are
 * skipped.
 *
 * Linear and bounded: each piece of text is scanned once (an unterminated line
 * is kept as pieces, not rescanned when more arrives), and a line or an event
 * longer than its limit ends the stream with {@link SseLimitError} instead of
 * growing without end.
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { MAX_SSE_EVENT_LENGTH, MAX_SSE_LINE_LENGTH } from "../Limits.js"

/** One dispatched event: its `event:` name (`"message"` when none) and its `data:` lines joined by `\n`. */
export interface SseEvent {
  readonly event: string
  readonly data: string
}

/** Longest line and longest event (its `data` lines together), in characters. */
export interface SseLimits {
  readonly line: number
  readonly event: number
}

export const DEFAULT_LIMITS: SseLimits = { line: MAX_SSE_LINE_LENGTH, event: MAX_SSE_EVENT_LENGTH }

/** A line or an event longer than its limit: the stream is not read further. */
export class SseLimitError extends Data.TaggedError("SseLimitError")<{
  readonly what: "line" | "event"
  readonly limit: number
}> {
  override get message(): string {
    return `the event stream has ${this.what === "line" ? "a line" : "an event"} longer than ${this.limit} characters`
  }
}

/**
 * Feeds text in, collects events. Lines may end in `\n`, `\r\n` or `\r`,
 * split anywhere across chunks. After a limit is exceeded, the decoder stays
 * failed.
 */
export class SseDecoder {
  // The unterminated line so far, in pieces, and its length.
  private pending: Array<string> = []
  private pendingLength = 0
  private event = ""
  private data: string | undefined = undefined
  private dataLength = 0
  // A chunk ended in "\r": a "\n" starting the next chunk belongs to the same line break.
  private skipLf = false
  private failed: SseLimitError | undefined = undefined

  constructor(private readonly limits: SseLimits = DEFAULT_LIMITS) {}

  /** Characters held for an unterminated line and an undispatched event: at most the two limits. */
  get buffered(): number {
    return this.pendingLength + this.dataLength
  }

  push(text: string, out: Array<SseEvent>): SseLimitError | undefined {
    if (this.failed !== undefined) return this.failed
    if (text.length === 0) return undefined
    if (this.skipLf && text.charCodeAt(0) === 10) text = text.slice(1)
    this.skipLf = false
    if (text.length === 0) return undefined
    if (text.indexOf("\r") !== -1) {
      this.skipLf = text.charCodeAt(text.length - 1) === 13
      text = text.replace(/\r\n?/g, "\n")
    }
    let start = 0
    let end = text.indexOf("\n")
    if (end !== -1 && this.pendingLength > 0) {
      // The first line of this text ends the line held so far.
      if (this.pendingLength + end > this.limits.line) return this.fail("line")
      this.pending.push(text.slice(0, end))
      const line = this.pending.join("")
      this.pending = []
      this.pendingLength = 0
      const error = this.line(line, 0, line.length, out)
      if (error !== undefined) return error
      start = end + 1
      end = text.indexOf("\n", start)
    }
    while (end !== -1) {
      if (end - start > this.limits.line) return this.fail("line")
      const error = this.line(text, start, end, out)
      if (error !== undefined) return error
      start = end + 1
      end = text.indexOf("\n", start)
    }
    if (start < text.length) {
      this.pendingLength += text.length - start
      if (this.pendingLength > this.limits.line) return this.fail("line")
      this.pending.push(start === 0 ? text : text.slice(start))
    }
    return undefined
  }

  /**
   * The input has ended. An event whose last line was terminated but not
   * followed by a blank line is still dispatched (lenient: some servers end the
   * body right after the last event); an unterminated line is a cut and is
   * dropped, as the spec says.
   */
  end(out: Array<SseEvent>): void {
    this.pending = []
    this.pendingLength = 0
    if (this.failed === undefined && this.data !== undefined) out.push({ event: this.event || "message", data: this.data })
    this.data = undefined
    this.dataLength = 0
    this.event = ""
  }

  private fail(what: SseLimitError["what"]): SseLimitError {
    this.pending = []
    this.pendingLength = 0
    this.data = undefined
    this.dataLength = 0
    this.failed = new SseLimitError({ what, limit: what === "line" ? this.limits.line : this.limits.event })
    return this.failed
  }

  private appendData(value: string): SseLimitError | undefined {
    this.dataLength += value.length + (this.data === undefined ? 0 : 1)
    if (this.dataLength > this.limits.event) return this.fail("event")
    this.data = this.data === undefined ? value : `${this.data}\n${value}`
    return undefined
  }

  private line(buffer: string, start: number, end: number, out: Array<SseEvent>): SseLimitError | undefined {
    if (start === end) {
      if (this.data !== undefined) out.push({ event: this.event || "message", data: this.data })
      this.data = undefined
      this.dataLength = 0
      this.event = ""
      return undefined
    }
    const first = buffer.charCodeAt(start)
    if (first === 58) return undefined // ":" comment
    // Fast path for the field this stream is made of.
    if (first === 100 && buffer.startsWith("data:", start)) {
      const from = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5
      return this.appendData(buffer.slice(from, end))
    }
    const colon = buffer.indexOf(":", start)
    const nameEnd = colon === -1 || colon > end ? end : colon
    const name = buffer.slice(start, nameEnd)
    const valueStart = nameEnd === end ? end : buffer.charCodeAt(nameEnd + 1) === 32 ? nameEnd + 2 : nameEnd + 1
    if (name === "event") this.event = buffer.slice(valueStart, end)
    else if (name === "data") return this.appendData(buffer.slice(valueStart, end))
    return undefined
  }
}

/**
 * Decodes a byte stream (UTF-8) into SSE events, one stream chunk per input
 * chunk; fails with {@link SseLimitError} at the first line or event over
 * `limits`, and reads no further.
 */
export const decode = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  limits: SseLimits = DEFAULT_LIMITS
): Stream.Stream<SseEvent, E | SseLimitError, R> =>
  Stream.suspend(() => {
    const decoder = new SseDecoder(limits)
    const text = new TextDecoder()
    return bytes.pipe(
      Stream.mapChunksEffect((chunk) => {
        const out: Array<SseEvent> = []
        for (const bytes of chunk) {
          const error = decoder.push(text.decode(bytes, { stream: true }), out)
          if (error !== undefined) return Effect.fail(error)
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      }),
      Stream.concat(Stream.suspend(() => {
        const out: Array<SseEvent> = []
        const error = decoder.push(text.decode(), out)
        if (error !== undefined) return Stream.fail(error)
        decoder.end(out)
        return Stream.fromChunk(Chunk.unsafeFromArray(out))
      }))
    )
  })

/**
 * Fails with `onTimeout()` when `duration` passes without an element (chunks
 * without elements do not count), measured afresh after each.
 */
export const timeoutBetween = <A, E, R, E2>(
  stream: Stream.Stream<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Stream.Stream<A, E | E2, R> =>
  Stream.fromPull(Effect.map(Stream.toPull(stream), (pull) => {
    const next: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R> = Effect.flatMap(
      pull,
      (chunk) => (Chunk.isEmpty(chunk) ? next : Effect.succeed(chunk))
    )
    return Effect.timeoutFail(next, { duration, onTimeout: () => Option.some<E | E2>(onTimeout()) })
  }))

/** Fails with `onTimeout()` when the whole stream takes longer than `duration`, however it trickles. */
export const timeoutTotal = <A, E, R, E2>(
  stream: Stream.Stream<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Stream.Stream<A, E | E2, R> => Stream.interruptWhen(stream, Effect.zipRight(Effect.sleep(duration), Effect.fail(onTimeout())))
