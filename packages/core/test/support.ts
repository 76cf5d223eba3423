import { NodeHttpClient } from "@effect/platform-node"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer } from "effect"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenStore from "../src/TokenStore.js"

/** The token lifecycle against a fresh fake issuer on 127.0.0.1, with a memory store. */
export const harness = (
  options: { readonly server?: FakeOAuthServer.Options; readonly manager?: TokenManager.Options } = {}
) =>
  TokenManager.layer(options.manager).pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(FakeOAuthServer.layer(options.server)),
    Layer.provideMerge(NodeHttpClient.layer)
  )

/** Signs the default profile in: tokens from the fake server, written to the store. */
export const signIn = (options?: Parameters<FakeOAuthServer.FakeOAuthServer.Service["issueTokens"]>[0]) =>
  Effect.gen(function*() {
    const server = yield* FakeOAuthServer.FakeOAuthServer
    const tokens = yield* server.issueTokens(options)
    yield* (yield* TokenStore.TokenStore).set("default", tokens)
    return tokens
  })

/** The refresh requests the fake server received. */
export const refreshRequests = Effect.map(
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (server) => server.requests),
  (requests) => requests.filter((r) => r.endpoint === "token" && r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token"))
)

export const fieldOf = (request: { readonly fields: ReadonlyArray<readonly [string, string]> }, name: string) =>
  request.fields.find(([k]) => k === name)?.[1]
