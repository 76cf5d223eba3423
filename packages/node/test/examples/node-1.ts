import { Provider, TokenStore } from "@subauth/core"
import { NodeTokenManager } from "@subauth/node"
import { Layer } from "effect"

export const TokensLive = NodeTokenManager.layer({ leeway: "5 minutes" }).pipe(
  Layer.provide([TokenStore.layerMemory, Provider.layerOpenAI])
)
