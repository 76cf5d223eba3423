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

// OpenAI's issuer and backend, unless SUBAUTH_ISSUER and SUBAUTH_CODEX_URL name others (plain http only to a
// loopback host, with SUBAUTH_ALLOW_INSECURE_HTTP=true): read once, when the layer is built, as the CLI reads them.
const allowInsecureHttp = Config.boolean("SUBAUTH_ALLOW_INSECURE_HTTP")
const Backend = SubscriptionLLM.layerConfig({ baseUrl: Config.string("SUBAUTH_CODEX_URL"), allowInsecureHttp })
const Issuer = Provider.layerConfig({ issuer: Config.string("SUBAUTH_ISSUER"), allowInsecureHttp })

// 1. Your own sign-in: what `subauth login` stored (SUBAUTH_STORE, SUBAUTH_HOME), refreshed when due.
export const SubscriptionLive = Backend.pipe(
  Layer.provide(NodeTokenManager.layer()),
  Layer.provide([NodeTokenStore.layerConfig(), Issuer]),
  Layer.provide(NodeHttpClient.layer)
)

// 2. A user's sign-in held by a broker (`subauth broker serve`): the program gets short-lived access
//    tokens only, and never a refresh token.
export const SubscriptionViaBroker = (broker: { url: string; apiKey: Redacted.Redacted<string>; userId: string }) =>
  Backend.pipe(
    Layer.provide(BrokerTokenManager.layer(broker)),
    Layer.provide(NodeHttpClient.layer)
  )

// 3. In tests: a fake issuer and a fake Codex backend on 127.0.0.1, with a user signed in.
export const SubscriptionTest = FakeCodexBackend.layerTest()

export const main = () => Effect.runPromise(program.pipe(Effect.provide(SubscriptionLive)))
