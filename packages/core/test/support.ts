import { NodeHttpClient } from "@effect/platform-node"
import { type FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer } from "effect"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
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

/** Signs in with tokens that are already due, so the next `get` refreshes. */
export const signInDue = Effect.gen(function*() {
  const server = yield* FakeOAuthServer.FakeOAuthServer
  const issued = yield* server.issueTokens()
  const due = new TokenSet.TokenSet({ ...issued, expiresAt: issued.obtainedAt })
  yield* (yield* TokenStore.TokenStore).set("default", due)
  return due
})

/** A fault for the token endpoint's requests (`calls`: which ones, counted from now). */
export const onRefresh = (fault: FakeHttp.Fault, calls?: ReadonlyArray<number>) =>
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (server) =>
    server.inject({ endpoint: "token", fault, ...(calls ? { calls } : {}) }))

/** Signs in with due tokens, makes the token endpoint answer with `fault`, and returns how the refresh failed. */
export const refreshFailingWith = (fault: FakeHttp.Fault, calls?: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    yield* signInDue
    yield* onRefresh(fault, calls)
    return yield* Effect.flip(TokenManager.get)
  })
