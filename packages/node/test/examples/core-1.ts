import { NodeHttpClient } from "@effect/platform-node"
import { Provider, TokenManager, TokenStore } from "@subauth/core"
import { Effect, Layer } from "effect"

const TokensLive = TokenManager.layer().pipe(
  Layer.provide([TokenStore.layerMemory, Provider.layerOpenAI, NodeHttpClient.layer])
)
export const accessToken = TokenManager.accessToken.pipe(Effect.provide(TokensLive)) // Redacted<string>
