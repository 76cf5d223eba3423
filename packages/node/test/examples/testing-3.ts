import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Effect } from "effect"

export const test = Effect.gen(function* () {
  const backend = yield* FakeCodexBackend.FakeCodexBackend
  yield* backend.enqueue(
    { items: [FakeCodexBackend.functionCall("get_weather", { city: "Paris" })] },
    { items: [FakeCodexBackend.message("Sunny.")], ending: FakeCodexBackend.cut() }
  )
  yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(503), calls: [1] })
  return yield* SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("Weather?")] })
}).pipe(Effect.provide(FakeCodexBackend.layerTest()))
