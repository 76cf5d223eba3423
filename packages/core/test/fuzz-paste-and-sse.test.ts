/**
 * Arbitrary input where subauth takes text from outside (fast-check): the
 * paste parser and the SSE decoder never throw, never die, end with a value or
 * a typed error, and hold no more than their limits.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Stream } from "effect"
import * as fc from "fast-check"
import { SseDecoder, type SseEvent } from "../src/internal/sse.js"
import * as PasteLogin from "../src/PasteLogin.js"
import * as Printable from "../src/Printable.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"

// Text as it could be pasted: anything, often shaped like a redirect.
const pasted = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ maxLength: 20000 }),
  fc.record({
    path: fc.constantFrom("http://127.0.0.1:1455/auth/callback?", "http://localhost:1455/auth/callback?", "?", "", "https://x/?"),
    params: fc.array(fc.tuple(fc.constantFrom("code", "state", "error", "error_description", "scope", "x"), fc.string({ unit: "binary", maxLength: 80 })), { maxLength: 6 })
  }).map(({ params, path }) => `${path}${params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`),
  fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })).map(([code, state]) => `${code}#${state}`)
)

// Bytes of an event stream: fragments of the real thing, with noise and control characters, cut anywhere.
const sseBytes = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.constantFrom("data: ", "\n", "\r\n", "\r", "event: x\n", ": ping\n", "data: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n"),
    fc.constantFrom(
      "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\"}}\n\n",
      "data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"x\",\"message\":\"\\u001b]0;t\\u0007\"}}}\n\n",
      "data: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"try again in 1s\"}\n\n",
      "data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"function_call\"}}\n\n",
      "data: {\"type\":\"response.created\"}\n\n"
    ),
    fc.string({ unit: "binary", maxLength: 64 })
  ).map((part) => (typeof part === "string" ? new TextEncoder().encode(part) : part)),
  { maxLength: 40 }
)

describe("fuzz: untrusted text in core", () => {
  it("the paste parser: a code or a typed LoginError with a printable message, for anything pasted", () => {
    fc.assert(
      fc.property(pasted, fc.string({ minLength: 1, maxLength: 50 }), (input, state) => {
        const result = PasteLogin.parsePastedRedirect(input, state)
        if (result._tag === "Left") {
          assert.strictEqual(result.left._tag, "LoginError")
          assert.isTrue(Printable.isLine(result.left.message), JSON.stringify(result.left.message))
          assert.isAtMost(result.left.message.length, 500)
        }
      }),
      { numRuns: 2000 }
    )
  })

  it.effect("the SSE decoder: any bytes, any chunking: events or a typed error, never a defect", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(sseBytes, async (chunks) => {
          const exit = await Effect.runPromiseExit(
            Stream.runCollect(SubscriptionLLM.decodeEvents(Stream.fromIterable(chunks), { limits: { line: 256, event: 1024 } }))
          )
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.isDie(exit.cause), `a defect: ${Cause.pretty(exit.cause)}`)
            const error = Cause.failureOption(exit.cause)
            assert.isTrue(error._tag === "Some" && ["ResponseError", "UsageLimitReached"].includes(error.value._tag))
            if (error._tag === "Some") assert.isTrue(Printable.isLine(error.value.message), error.value.message)
          } else {
            assert.isTrue(Chunk.every(exit.value, (e) => typeof e._tag === "string"))
          }
        }),
        { numRuns: 1000 }
      )
    ))

  it("the SSE framing: any text, any chunking: never more held than a line and an event", () => {
    const limits = { line: 100, event: 300 }
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "binary", maxLength: 200 }), { maxLength: 50 }), (chunks) => {
        const decoder = new SseDecoder(limits)
        const out: Array<SseEvent> = []
        for (const chunk of chunks) {
          decoder.push(chunk, out)
          assert.isAtMost(decoder.buffered, limits.line + limits.event)
        }
        decoder.end(out)
        for (const event of out) assert.isAtMost(event.data.length, limits.event)
      }),
      { numRuns: 2000 }
    )
  })
})
