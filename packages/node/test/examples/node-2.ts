import { Provider } from "@subauth/core"
import { NodeTokenManager, NodeTokenStore } from "@subauth/node"
import { Effect, Layer, Option } from "effect"

// SUBAUTH_STORE=auto|file|encrypted-file|keychain|codex, SUBAUTH_HOME, CODEX_HOME, SUBAUTH_STORE_KEY(_FILE)
export const TokensLive = NodeTokenManager.layer().pipe(
  Layer.provideMerge(NodeTokenStore.layerConfig()),
  Layer.provide(Provider.layerOpenAI)
)

export const whereTokensAre = Effect.map(NodeTokenStore.StoreInfo, (info) =>
  `${info.kind} at ${info.location}${Option.match(info.note, { onNone: () => "", onSome: (n) => ` (${n})` })}`)
