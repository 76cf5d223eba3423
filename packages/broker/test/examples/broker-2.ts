import { NodeHttpClient } from "@effect/platform-node"
import { BrokerTokenManager } from "@subauth/broker"
import { SubscriptionLLM } from "@subauth/core"
import { Effect, Layer, type Redacted } from "effect"

export const ask = (apiKey: Redacted.Redacted<string>, userId: string, question: string) =>
  SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage(question)] }).pipe(
    Effect.provide(SubscriptionLLM.layer().pipe(
      Layer.provide(BrokerTokenManager.layer({ url: "http://127.0.0.1:8790", apiKey, userId, label: "my agent" })),
      Layer.provide(NodeHttpClient.layer)
    ))
  )
