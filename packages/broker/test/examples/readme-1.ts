import { NodeHttpClient } from "@effect/platform-node"
import { BrokerTokenManager } from "@subauth/broker"
import { Provider, SubscriptionLLM } from "@subauth/core"
import { NodeTokenManager, NodeTokenStore } from "@subauth/node"
import { FakeCodexBackend } from "@subauth/testing"
import { Config, Effect, Layer, type Redacted } from "effect"

// The program sees no token, no store and no HTTP client.
export const program = Effect.gen(function* () {
  const answer = yield* SubscriptionLLM.generate({
    input: [SubscriptionLLM.userMessage("Explain PKCE in one sentence.")]
  })
  return answer.text
})

// 1. Your own sign-in: what `subauth login` stored (SUBAUTH_STORE, SUBAUTH_HOME), refreshed when due.
export const SubscriptionLive = SubscriptionLLM.layer().pipe(
  Layer.provide(NodeTokenManager.layer()),
  Layer.provide([NodeTokenStore.layerConfig(), Provider.layerOpenAI]),
  Layer.provide(NodeHttpClient.layer)
)

// 2. A user's sign-in held by a broker (`subauth broker serve`): the program gets short-lived access
//    tokens only, and never a refresh token. The backend may be overridden (SUBAUTH_CODEX_URL).
export const SubscriptionViaBroker = (broker: { url: string; apiKey: Redacted.Redacted<string>; userId: string }) =>
  SubscriptionLLM.layerConfig({
    baseUrl: Config.string("SUBAUTH_CODEX_URL"),
    allowInsecureHttp: Config.boolean("SUBAUTH_ALLOW_INSECURE_HTTP")
  }).pipe(
    Layer.provide(BrokerTokenManager.layer(broker)),
    Layer.provide(NodeHttpClient.layer)
  )

// 3. In tests: a fake issuer and a fake Codex backend on 127.0.0.1, with a user signed in.
export const SubscriptionTest = FakeCodexBackend.layerTest()

export const main = () => Effect.runPromise(program.pipe(Effect.provide(SubscriptionLive)))
