import { assert, it } from "@effect/vitest"
import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Effect } from "effect"

// it.live, not it.effect: the client waits out its retry backoff on the Clock, and it.effect's TestClock stands still.
it.live("a 503 is retried; a stream cut short is an error", () =>
  Effect.gen(function* () {
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    yield* backend.enqueue(
      { items: [FakeCodexBackend.functionCall("get_weather", { city: "Paris" })] },
      { items: [FakeCodexBackend.message("Sunny.")], ending: FakeCodexBackend.cut() }
    )
    yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(503), calls: [1] })
    const ask = SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("Weather?")] })
    const first = yield* ask
    assert.strictEqual(first.toolCalls[0]?.name, "get_weather")
    const cut = yield* Effect.flip(ask)
    assert.strictEqual(cut._tag === "ResponseError" ? cut.reason : cut._tag, "StreamClosed")
    assert.strictEqual((yield* backend.requests).length, 3)
  }).pipe(Effect.provide(FakeCodexBackend.layerTest())))
