/**
 * The SSE decoder scans each byte once and holds at most one line and one
 * event: a line without end (900 MB ran 90 s at full CPU and never finished)
 * or an event without end (1 GB of `data:` lines threw RangeError) is a typed
 * error at the limit, and nothing past it is read.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Stream, TestClock } from "effect"
import * as fc from "fast-check"
import * as Limits from "../src/Limits.js"
import { SseDecoder, type SseEvent } from "../src/internal/sse.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"

const encoder = new TextEncoder()

/** `count` chunks of `chunk`, made as they are pulled, counting how many were. */
const repeated = (chunk: string, count: number, pulled: { n: number }) => {
  const bytes = encoder.encode(chunk)
  return Stream.repeatEffect(Effect.sync(() => (pulled.n++, bytes))).pipe(Stream.take(count))
}

const failureOf = (bytes: Stream.Stream<Uint8Array>) =>
  Effect.flip(Stream.runDrain(SubscriptionLLM.decodeEvents(bytes)))

describe("SSE decoding is linear and bounded", () => {
  it("the limits", () => {
    assert.strictEqual(Limits.MAX_SSE_LINE_LENGTH, 16 * 1024 * 1024)
    assert.strictEqual(Limits.MAX_SSE_EVENT_LENGTH, 16 * 1024 * 1024)
  })

  it.effect("a line without end (64 MiB, 64 KiB at a time): InvalidResponse at 16 Mi characters, nothing more read", () =>
    Effect.gen(function*() {
      const pulled = { n: 0 }
      const head = Stream.make(encoder.encode("data: {\"type\":\"response.output_text.delta\",\"delta\":\""))
      const error = yield* failureOf(Stream.concat(head, repeated("a".repeat(65536), 1024, pulled)))
      assert.strictEqual(error._tag, "ResponseError")
      if (error._tag !== "ResponseError") return
      assert.strictEqual(error.reason, "InvalidResponse")
      assert.include(error.message, `a line longer than ${Limits.MAX_SSE_LINE_LENGTH} characters`)
      assert.isAtMost(pulled.n, 257, "reading stops at the limit")
    }))

  it.effect("data lines without a blank line (64 MiB): InvalidResponse at 16 Mi characters", () =>
    Effect.gen(function*() {
      const pulled = { n: 0 }
      const error = yield* failureOf(repeated("data: xxxxxxxxxxxxxx\n".repeat(3000), 1100, pulled))
      assert.isTrue(error._tag === "ResponseError" && error.reason === "InvalidResponse", error.message)
      assert.include(error.message, `an event longer than ${Limits.MAX_SSE_EVENT_LENGTH} characters`)
      assert.isBelow(pulled.n, 1100, "reading stops at the limit")
    }))

  it("property: any input in any chunking holds at most one line and one event; over a limit it fails and stays failed", () => {
    const limits = { line: 64, event: 256 }
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom("\n", "\r", "\r\n", "data: ", "event: x\n", ": c\n")), { maxLength: 60 }),
        (chunks) => {
          const decoder = new SseDecoder(limits)
          const out: Array<SseEvent> = []
          let failed = false
          for (const chunk of chunks) {
            const error = decoder.push(chunk, out)
            assert.isAtMost(decoder.buffered, limits.line + limits.event)
            if (failed) assert.isDefined(error, "stays failed")
            if (error !== undefined) failed = true
          }
          decoder.end(out)
          for (const event of out) assert.isAtMost(event.data.length, limits.event)
        }
      )
    )
  })

  it("within the limits, a line split across thousands of chunks is one line", () => {
    const decoder = new SseDecoder()
    const out: Array<SseEvent> = []
    const payload = JSON.stringify({ type: "x", text: "y".repeat(100_000) })
    decoder.push("data: ", out)
    for (let i = 0; i < payload.length; i += 7) assert.isUndefined(decoder.push(payload.slice(i, i + 7), out))
    decoder.push("\n\n", out)
    assert.deepStrictEqual(out, [{ event: "message", data: payload }])
  })

  for (
    const [name, chunk, minutes, expected] of [
      ["idle: measured between events, not bytes (a comment a minute keeps no stream alive)", ": ping\n", 6, "no event for 5m"],
      [
        "total: an event a minute cannot keep a stream open past the stream timeout",
        "data: {\"type\":\"response.in_progress\"}\n\n",
        31,
        "longer than 30m in all"
      ]
    ] as const
  ) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const bytes = Stream.repeatEffect(Effect.as(Effect.sleep("1 minute"), encoder.encode(chunk)))
        const fiber = yield* Effect.fork(Effect.either(Stream.runDrain(
          SubscriptionLLM.decodeEvents(bytes, { idleTimeout: Duration.minutes(5), streamTimeout: Duration.minutes(30) })
        )))
        for (let i = 0; i < minutes; i++) yield* TestClock.adjust("1 minute")
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Either.isLeft(exit) && exit.left._tag === "TransportError")
        if (Either.isLeft(exit)) assert.include(exit.left.message, expected)
      }))
  }

  it.effect("events within both limits are decoded as before", () =>
    Effect.gen(function*() {
      const text = "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n" +
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\"}}\n\n"
      const events = yield* Stream.runCollect(
        SubscriptionLLM.decodeEvents(Stream.make(encoder.encode(text)), { idleTimeout: Duration.minutes(5), streamTimeout: Duration.minutes(30) })
      )
      assert.deepStrictEqual(Chunk.toArray(events).map((e) => e._tag), ["Created", "Completed"])
    }))
})
