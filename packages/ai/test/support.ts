import { NodeHttpClient } from "@effect/platform-node"
import { SubscriptionLLM, TokenStore } from "@subauth/core"
import { NodeTokenManager } from "@subauth/node"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer } from "effect"
import * as SubscriptionLanguageModel from "../src/SubscriptionLanguageModel.js"

/**
 * One fake issuer for a whole file (its RSA key costs a tenth of a second);
 * use with `layer(sharedIssuer, { excludeTestServices: true })`.
 */
export const sharedIssuer = FakeOAuthServer.layer()

/** Per test, on the shared issuer: SubscriptionLanguageModel over the test layers of @subauth/testing. */
export const modelOnSharedIssuer = (
  backend: Partial<FakeCodexBackend.Settings> = {},
  options: SubscriptionLanguageModel.Options = {}
) =>
  SubscriptionLanguageModel.layer(options).pipe(
    Layer.provideMerge(FakeCodexBackend.layerSignedIn({ backend, client: { retry: { baseDelay: "2 millis" } } }))
  )

/** The test layers of @subauth/testing: fakes, a signed-in memory store, TokenManager and SubscriptionLLM over fetch. */
export const testLayers = (backend: Partial<FakeCodexBackend.Settings> = {}) =>
  FakeCodexBackend.layerTest({ backend, client: { retry: { baseDelay: "2 millis" } } })

/** What a CLI would wire: the Node layers (node:http), against the same kind of fake servers. */
export const nodeLayers = (backend: Partial<FakeCodexBackend.Settings> = {}) =>
  Layer.unwrapEffect(
    Effect.map(FakeCodexBackend.FakeCodexBackend, (fake) =>
      SubscriptionLLM.layer({ ...fake.clientOptions, retry: { baseDelay: "2 millis" } }).pipe(
        Layer.orDie,
        Layer.provide(NodeHttpClient.layer)
      ))
  ).pipe(
    Layer.merge(Layer.effectDiscard(Effect.orDie(FakeCodexBackend.signIn))),
    Layer.provideMerge(NodeTokenManager.layer()),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(FakeCodexBackend.layer(backend)),
    Layer.provideMerge(FakeOAuthServer.layer())
  )

/** The request bodies the fake backend received. */
export const bodies = Effect.map(
  Effect.flatMap(FakeCodexBackend.FakeCodexBackend, (fake) => fake.requests),
  (requests) => requests.filter((r) => r.endpoint === "responses").map((r) => JSON.parse(r.body) as Record<string, any>)
)
