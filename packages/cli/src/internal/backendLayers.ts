/**
 * The recipes that need HTTP: Node's client and the backend stack. `layers.ts`
 * imports this module when one of them is built, so that `subauth status`
 * does not evaluate node:http, node:https and the Codex wire schemas (5 ms of
 * the 100 it took). Imported statically here, so that the bundle keeps only
 * what is used of `NodeHttpClient` (its undici client is 20 ms more).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Provider from "@subauth/core/Provider"
import * as SubscriptionLLM from "@subauth/core/SubscriptionLLM"
import type * as TokenStore from "@subauth/core/TokenStore"
import * as NodeTokenManager from "@subauth/node/NodeTokenManager"
import type * as NodeTokenStore from "@subauth/node/NodeTokenStore"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Settings from "../Settings.js"
import * as UsageRecords from "./usageRecords.js"

export const httpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layer

// Keep connections to the backend open: one TLS handshake for a session of requests, not one per request.
const keepAliveClient = NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true })))

export const llm = (
  profile: string,
  settings: Settings.Service,
  store: Layer.Layer<TokenStore.TokenStore | NodeTokenStore.StoreInfo, TokenStore.TokenStoreError | ConfigError.ConfigError>,
  provider: Layer.Layer<Provider.Provider, Provider.ProviderError>
) =>
  SubscriptionLLM.layer({
    allowInsecureHttp: settings.allowInsecureHttp,
    ...Option.match(settings.codexUrl, { onNone: () => ({}), onSome: (baseUrl) => ({ baseUrl }) }),
    // The latest limits, for `subauth status` in another process.
    onRateLimits: UsageRecords.writer(settings, profile)
  }).pipe(
    Layer.provideMerge(NodeTokenManager.layer({ profile })),
    Layer.provideMerge(Layer.mergeAll(store, provider, keepAliveClient))
  )
