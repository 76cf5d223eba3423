import { NodeHttpClient } from "@effect/platform-node"
import { Provider, SubscriptionLLM, TokenManager, TokenStore } from "@subauth/core"
import { Console, Effect, Layer, Stream } from "effect"

export const LLMLive = SubscriptionLLM.layer({ model: "gpt-5.5" }).pipe(
  Layer.provideMerge(TokenManager.layer()),
  Layer.provide([TokenStore.layerMemory, Provider.layerOpenAI, NodeHttpClient.layer])
)

export const haiku = SubscriptionLLM.stream({
  system: "Answer with one haiku.",
  input: [SubscriptionLLM.userMessage("What is Effect?")]
}).pipe(Stream.runForEach((event) => (event._tag === "TextDelta" ? Console.log(event.delta) : Effect.void)))
