/**
 * The proxy's request decoding under arbitrary input (fast-check): any JSON
 * value through the translations, and any bytes through HTTP, is answered
 * (200, or a 4xx that says what is wrong), never a 500, never a crash; and
 * memory does not grow with what was sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, Effect } from "effect"
import * as fc from "fast-check"
import * as ChatCompletions from "../src/ChatCompletions.js"
import { nestingExceeds } from "../src/internal/body.js"
import * as ResponsesApi from "../src/ResponsesApi.js"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, layer } from "./support.js"

// Values shaped like requests, with anything in their fields.
const requestLike = fc.record({
  model: fc.oneof(fc.constant("gpt-5.5"), fc.anything()),
  messages: fc.oneof(
    fc.array(fc.record({ role: fc.constantFrom("user", "system", "assistant", "tool", "developer", "x"), content: fc.anything() }), { maxLength: 3 }),
    fc.anything()
  ),
  input: fc.oneof(fc.string(), fc.anything()),
  tools: fc.oneof(fc.array(fc.anything(), { maxLength: 2 }), fc.anything()),
  stream: fc.oneof(fc.boolean(), fc.anything()),
  prompt_cache_key: fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), fc.anything())
}, { requiredKeys: [] })

const body = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.string({ unit: "binary", maxLength: 500 }).map((s) => new TextEncoder().encode(s)),
  fc.jsonValue({ maxDepth: 6 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
  requestLike.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "null")),
  fc.integer({ min: 60, max: 200 }).map((depth) => new TextEncoder().encode(`${"[".repeat(depth)}${"]".repeat(depth)}`))
)

describe("fuzz: the proxy's request decoding", () => {
  it("translate: any value gives a translation or a RequestError, never a throw", () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything({ maxDepth: 5 }), requestLike), (json) => {
        const results: ReadonlyArray<Either.Either<unknown, { readonly _tag: string }>> = [
          ChatCompletions.translate(json),
          ResponsesApi.translate(json)
        ]
        for (const result of results) if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "RequestError")
      }),
      { numRuns: 3000 }
    )
  })

  it("the nesting scan agrees with the depth of parsed JSON", () => {
    const depthOf = (v: unknown): number =>
      typeof v === "object" && v !== null ? 1 + Math.max(0, ...Object.values(v as Record<string, unknown>).map(depthOf)) : 0
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 12 }), (value, max) => {
        const text = JSON.stringify(value)
        assert.strictEqual(nestingExceeds(text, max), depthOf(value) > max, text)
      }),
      { numRuns: 2000 }
    )
  })

  it.live("any bytes POSTed to both endpoints: never a 5xx of the proxy's own, and memory stays flat", () =>
    Effect.gen(function*() {
      const { url } = yield* OpenAIProxy.OpenAIProxy
      const heapBefore = process.memoryUsage().heapUsed
      const statuses = new Map<number, number>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(body, fc.constantFrom("/v1/chat/completions", "/v1/responses"), async (bytes, path) => {
            const response = await fetch(`${url}${path}`, { method: "POST", headers: authorized, body: bytes })
            await response.arrayBuffer()
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
            assert.isTrue(response.status === 200 || (response.status >= 400 && response.status < 500), `${response.status} for ${path}`)
          }),
          { numRuns: 300 }
        )
      )
      const grown = (process.memoryUsage().heapUsed - heapBefore) / (1024 * 1024)
      assert.isBelow(grown, 200, `the heap grew ${grown.toFixed(0)} MB`)
      assert.isTrue(statuses.has(400), JSON.stringify([...statuses]))
    }).pipe(Effect.provide(layer())), 120_000)
})
