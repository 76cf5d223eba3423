import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Provider, SubscriptionLLM, TokenManager, type TokenStore } from "@subauth/core"
import { OpenAIProxy } from "@subauth/server"
import { Config, Layer } from "effect"

// Any TokenStore with a signed-in profile, e.g. NodeTokenStore.layerFile(dir) from @subauth/node.
export const ProxyLive = (store: Layer.Layer<TokenStore.TokenStore>) =>
  OpenAIProxy.layerConfig({ apiKey: Config.redacted("SUBAUTH_SERVE_KEY") }).pipe(
    Layer.provide(SubscriptionLLM.layer()),
    Layer.provide(TokenManager.layer()),
    Layer.provide([store, Provider.layerOpenAI, NodeHttpClient.layer])
  )

// Serves 127.0.0.1:8787 until SIGINT or SIGTERM, then lets requests in flight finish.
export const main = (store: Layer.Layer<TokenStore.TokenStore>) => NodeRuntime.runMain(Layer.launch(ProxyLive(store)))
