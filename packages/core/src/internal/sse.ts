/**
 * Server-sent events framing (WHATWG HTML §9.2.6, "Interpreting an event
 * stream"), incremental and allocation-light: text goes in as it arrives, whole
 * events come out. Only `event` and `data` matter here (the Codex backend
 * dispatches on the JSON `type` inside `data`); `id`, `retry` and comments are
 * skipped.
 */
import { Chunk, Stream } from "effect"

/** One dispatched event: its `event:` name (`"message"` when none) and its `data:` lines joined by `\n`. */
export interface SseEvent {
  readonly event: string
  readonly data: string
}

/**
 * Feeds text in, collects events. Lines may end in `\n`, `\r\n` or `\r`,
 * split anywhere across chunks.
 */
export class SseDecoder {
  // The unterminated tail of the text seen so far.
  private tail = ""
  private event = ""
  private data: string | undefined = undefined
  // A chunk ended in "\r": a "\n" starting the next chunk belongs to the same line break.
  private skipLf = false

  push(text: string, out: Array<SseEvent>): void {
    if (text.length === 0) return
    if (this.skipLf && text.charCodeAt(0) === 10) text = text.slice(1)
    this.skipLf = false
    if (text.length === 0) return
    if (text.indexOf("\r") !== -1) {
      this.skipLf = text.charCodeAt(text.length - 1) === 13
      text = text.replace(/\r\n?/g, "\n")
    }
    const buffer = this.tail.length > 0 ? this.tail + text : text
    let start = 0
    let end = buffer.indexOf("\n", start)
    while (end !== -1) {
      this.line(buffer, start, end, out)
      start = end + 1
      end = buffer.indexOf("\n", start)
    }
    this.tail = start === 0 ? buffer : buffer.slice(start)
  }

  /**
   * The input has ended. An event whose last line was terminated but not
   * followed by a blank line is still dispatched (lenient: some servers end the
   * body right after the last event); an unterminated line is a cut and is
   * dropped, as the spec says.
   */
  end(out: Array<SseEvent>): void {
    this.tail = ""
    if (this.data !== undefined) out.push({ event: this.event || "message", data: this.data })
    this.data = undefined
    this.event = ""
  }

  private line(buffer: string, start: number, end: number, out: Array<SseEvent>): void {
    if (start === end) {
      if (this.data !== undefined) out.push({ event: this.event || "message", data: this.data })
      this.data = undefined
      this.event = ""
      return
    }
    const first = buffer.charCodeAt(start)
    if (first === 58) return // ":" comment
    // Fast path for the field this stream is made of.
    if (first === 100 && buffer.startsWith("data:", start)) {
      const from = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5
      const value = buffer.slice(from, end)
      this.data = this.data === undefined ? value : `${this.data}\n${value}`
      return
    }
    const colon = buffer.indexOf(":", start)
    const nameEnd = colon === -1 || colon > end ? end : colon
    const name = buffer.slice(start, nameEnd)
    const valueStart = nameEnd === end ? end : buffer.charCodeAt(nameEnd + 1) === 32 ? nameEnd + 2 : nameEnd + 1
    if (name === "event") this.event = buffer.slice(valueStart, end)
    else if (name === "data") {
      const value = buffer.slice(valueStart, end)
      this.data = this.data === undefined ? value : `${this.data}\n${value}`
    }
  }
}

/** Decodes a byte stream (UTF-8) into SSE events, one stream chunk per input chunk. */
export const decode = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<SseEvent, E, R> =>
  Stream.suspend(() => {
    const decoder = new SseDecoder()
    const text = new TextDecoder()
    return bytes.pipe(
      Stream.mapChunks((chunk) => {
        const out: Array<SseEvent> = []
        for (const bytes of chunk) decoder.push(text.decode(bytes, { stream: true }), out)
        return Chunk.unsafeFromArray(out)
      }),
      Stream.concat(Stream.suspend(() => {
        const out: Array<SseEvent> = []
        decoder.push(text.decode(), out)
        decoder.end(out)
        return Stream.fromChunk(Chunk.unsafeFromArray(out))
      }))
    )
  })
