/**
 * Closing the proxy's scope (what SIGINT and SIGTERM do through the runtime):
 * requests in flight finish within the grace period, or are ended cleanly
 * after it; nothing new is served meanwhile.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend } from "@subauth/testing"
import { Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Schedule, Scope } from "effect"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, KEY } from "./support.js"

const fakes = FakeCodexBackend.layerTest().pipe(Layer.orDie, Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))

/** The proxy in a scope of its own, which the test closes, with `answer` next from the backend. */
const start = (shutdownGrace: Duration.DurationInput, answer: FakeCodexBackend.Answer) =>
  Effect.gen(function*() {
    yield* Effect.flatMap(FakeCodexBackend.FakeCodexBackend, (backend) => backend.enqueue(answer))
    const scope = yield* Scope.make()
    const proxy = yield* OpenAIProxy.make({ apiKey: KEY, port: 0, shutdownGrace }).pipe(Scope.extend(scope))
    return { proxy, stop: Scope.close(scope, Exit.void) }
  })

const chat = (url: string, stream: boolean) =>
  Effect.promise(() =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: authorized,
      body: JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream })
    })
  )

/** A body read as it arrives: `next` resolves with the text received so far once there is more. */
const reader = (response: Response) => {
  const body = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const next = Effect.promise(async () => {
    const { done, value } = await body.read()
    if (!done) text += decoder.decode(value, { stream: true })
    return done
  })
  const untilContent = Effect.repeat(next, { until: (done) => done || text.includes("\"content\":\"a") })
  const rest = Effect.repeat(next, { until: (done) => done })
  return { untilContent, rest, text: () => text }
}

const contentOf = (sse: string) =>
  sse.split("\n\n").filter((frame) => frame.startsWith("data: {")).map((frame) => JSON.parse(frame.slice(6)))
    .map((chunk) => chunk.choices?.[0]?.delta?.content ?? "").join("")

const slow = (chunks: number, delay: Duration.DurationInput): FakeCodexBackend.Answer => ({
  items: [FakeCodexBackend.message("abcdefghijklmnopqrstuvwxyz".slice(0, chunks), { chunks })],
  eventDelay: delay
})

/** A stream that has begun when the server is told to stop. */
const stopWhileStreaming = (shutdownGrace: Duration.DurationInput, answer: FakeCodexBackend.Answer) =>
  Effect.gen(function*() {
    const { proxy, stop } = yield* start(shutdownGrace, answer)
    const stream = reader(yield* chat(proxy.url, true))
    yield* stream.untilContent
    const stopping = yield* Effect.fork(stop)
    return { proxy, stream, stopping }
  })

describe("graceful shutdown", () => {
  it.live("a stream in flight finishes within the grace period; a new request is not served meanwhile", () =>
    Effect.gen(function*() {
      const { proxy, stopping, stream } = yield* stopWhileStreaming("30 seconds", slow(10, "30 millis"))
      const late = yield* Effect.promise(() =>
        fetch(`${proxy.url}/v1/models`, { headers: authorized }).then((r) => r.status, () => "refused")
      )
      assert.include([503, "refused"], late)
      yield* stream.rest
      assert.strictEqual(contentOf(stream.text()), "abcdefghij")
      assert.isTrue(stream.text().endsWith("data: [DONE]\n\n"))
      yield* Fiber.join(stopping)
      const after = yield* Effect.promise(() => fetch(`${proxy.url}/v1/models`, { headers: authorized }).then(() => "served", () => "refused"))
      assert.strictEqual(after, "refused")
    }).pipe(Effect.provide(fakes)))

  it.live("after the grace period a stream is ended cleanly: what came, then an error event, then the end", () =>
    Effect.gen(function*() {
      const { stopping, stream } = yield* stopWhileStreaming("50 millis", slow(26, "200 millis"))
      yield* stream.rest
      const text = stream.text()
      const received = contentOf(text)
      assert.isTrue("abcdefghijklmnopqrstuvwxyz".startsWith(received) && received.length < 26, received)
      const frames = text.trimEnd().split("\n\n")
      const last = JSON.parse(frames[frames.length - 1]!.slice(6))
      assert.strictEqual(last.error.code, "server_shutting_down")
      assert.notInclude(text, "[DONE]")
      yield* Fiber.join(stopping)
    }).pipe(Effect.provide(fakes)))

  it.live("after the grace period a waiting request gets 503 in OpenAI's format", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const { proxy, stop } = yield* start("50 millis", slow(26, "200 millis"))
      const pending = yield* Effect.fork(chat(proxy.url, false))
      // The request is in flight once the backend has it.
      yield* Effect.repeat(backend.requests, {
        until: (requests) => requests.some((r) => r.endpoint === "responses"),
        schedule: Schedule.spaced("5 millis")
      })
      const stopping = yield* Effect.fork(stop)
      const response = yield* Fiber.join(pending)
      assert.strictEqual(response.status, 503)
      const body = yield* Effect.promise(() => response.json())
      assert.strictEqual(body.error.code, "server_shutting_down")
      yield* Fiber.join(stopping)
    }).pipe(Effect.provide(fakes)))
})
