/**
 * SubscriptionLLM against backends that send too much or too slowly, over
 * loopback (real clock, durations of milliseconds): a gigabyte line, a
 * stream of comments, a stream of events without end. Each ends with a typed
 * error, soon.
 */
import { assert, layer } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Effect } from "effect"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import { backendHarness, backendRequests, sharedIssuer } from "./subscription-support.js"
import { signIn } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend
const ask: SubscriptionLLM.Request = { input: [SubscriptionLLM.userMessage("hi")] }
const sse = { "content-type": "text/event-stream" }

const failingWith = (fault: FakeHttp.Fault) =>
  Effect.gen(function*() {
    yield* signIn()
    yield* (yield* backend).inject({ endpoint: "responses", fault })
    return yield* Effect.flip(SubscriptionLLM.generate(ask))
  })

layer(sharedIssuer, { excludeTestServices: true })("SSE limits and timeouts (loopback)", (it) => {
  it.effect("a 1 GiB line: ResponseError(InvalidResponse) at the limit, the stream let go", () =>
    Effect.gen(function*() {
      const error = yield* failingWith(FakeHttp.largeBody(1024 * 1024 * 1024, { prefix: "data: ", fill: "a", headers: sse }))
      assert.isTrue(error._tag === "ResponseError" && error.reason === "InvalidResponse", error.message)
      assert.include(error.message, "a line longer than")
      assert.lengthOf(yield* backendRequests(), 1)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("comments every 20 ms and no event: idle timeout (between events, not bytes)", () =>
    Effect.gen(function*() {
      const error = yield* failingWith(FakeHttp.trickle({ every: "20 millis", chunk: ": ping\n", headers: sse }))
      assert.isTrue(error._tag === "TransportError" && error.reason === "Timeout", error.message)
      assert.include(error.message, "no event for 300ms")
    }).pipe(Effect.provide(backendHarness({ client: { idleTimeout: "300 millis", streamTimeout: "10 seconds" } }))))

  it.effect("an event every 20 ms, without end: the stream timeout ends it", () =>
    Effect.gen(function*() {
      const error = yield* failingWith(
        FakeHttp.trickle({ every: "20 millis", chunk: "data: {\"type\":\"response.in_progress\"}\n\n", headers: sse })
      )
      assert.isTrue(error._tag === "TransportError" && error.reason === "Timeout", error.message)
      assert.include(error.message, "longer than 1s in all")
    }).pipe(Effect.provide(backendHarness({ client: { idleTimeout: "300 millis", streamTimeout: "1 second" } }))))

  it.effect("a backend that never sends headers: a timeout, and at most one more request (not four)", () =>
    Effect.gen(function*() {
      const error = yield* failingWith(FakeHttp.latency("20 seconds"))
      assert.isTrue(error._tag === "TransportError" && error.reason === "Timeout", error.message)
      assert.isAtMost((yield* backendRequests()).length, 2)
    }).pipe(Effect.provide(backendHarness({ client: { timeout: "300 millis" } }))))
})
