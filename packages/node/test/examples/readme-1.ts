import { NodeHttpClient } from "@effect/platform-node"
import { Provider, TokenManager, TokenStore } from "@subauth/core"
import { Effect, Layer, Redacted } from "effect"

export const program = Effect.gen(function* () {
  const tokens = yield* TokenManager.get // refreshed if due; from memory otherwise
  console.log(tokens.accountId, tokens.planType, tokens.expiresAt)
  return Redacted.value(tokens.accessToken) // only at the wire
})

export const TokensLive = TokenManager.layer({ leeway: "5 minutes" }).pipe(
  Layer.provide([TokenStore.layerMemory, Provider.layerOpenAI, NodeHttpClient.layer])
)

export const main = () => Effect.runPromise(program.pipe(Effect.provide(TokensLive)))
