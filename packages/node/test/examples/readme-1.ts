import { NodeHttpClient } from "@effect/platform-node"
import { Provider, SubscriptionLLM } from "@subauth/core"
import { NodeTokenManager, NodeTokenStore } from "@subauth/node"
import { Effect, Layer } from "effect"

// The program sees no token, no store and no HTTP client.
export const program = Effect.gen(function* () {
  const answer = yield* SubscriptionLLM.generate({
    input: [SubscriptionLLM.userMessage("Explain PKCE in one sentence.")]
  })
  return answer.text
})

// The edge: the sign-in `subauth login` stored (SUBAUTH_STORE, SUBAUTH_HOME), refreshed when due.
export const SubscriptionLive = SubscriptionLLM.layer().pipe(
  Layer.provide(NodeTokenManager.layer()),
  Layer.provide([NodeTokenStore.layerConfig(), Provider.layerOpenAI]),
  Layer.provide(NodeHttpClient.layer)
)

export const main = () => Effect.runPromise(program.pipe(Effect.provide(SubscriptionLive)))
