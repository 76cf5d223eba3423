/**
 * The layers of the commands that talk to the Codex backend.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SubscriptionLLM } from "@subauth/core"
import { NodeTokenManager } from "@subauth/node"
import { Layer, Option } from "effect"
import * as Layers from "../internal/layers.js"
import type * as Settings from "../Settings.js"

// Keep connections to the backend open: one TLS handshake for a session of requests, not one per request.
const keepAliveClient = NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true })))

export const layer = (args: { readonly profile: string; readonly store: Layers.StoreChoice }, settings: Settings.Service) =>
  SubscriptionLLM.layer({
    allowInsecureHttp: settings.allowInsecureHttp,
    ...Option.match(settings.codexUrl, { onNone: () => ({}), onSome: (baseUrl) => ({ baseUrl }) })
  }).pipe(
    Layer.provideMerge(NodeTokenManager.layer({ profile: args.profile })),
    Layer.provideMerge(Layer.mergeAll(Layers.store(args.store, settings), Layers.provider(settings), keepAliveClient))
  )
