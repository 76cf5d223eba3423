import { LanguageModel } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { SubscriptionLanguageModel } from "@subauth/ai"
import { Provider, SubscriptionLLM, TokenStore } from "@subauth/core"
import { NodeTokenManager } from "@subauth/node"
import { Effect, Layer } from "effect"

// Any Effect AI program…
export const program = Effect.gen(function* () {
  const response = yield* LanguageModel.generateText({ prompt: "Explain SSE in one sentence." })
  return response.text
})

// …runs on the subscription instead of an API key by swapping one layer.
export const SubscriptionModel = SubscriptionLanguageModel.layer({ model: "gpt-5.5" }).pipe(
  Layer.provide(SubscriptionLLM.layer().pipe(Layer.provide(NodeHttpClient.layer))),
  Layer.provide(NodeTokenManager.layer()),
  Layer.provide([TokenStore.layerMemory, Provider.layerOpenAI])
)

export const main = program.pipe(Effect.provide(SubscriptionModel))
