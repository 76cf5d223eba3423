/**
 * Every body read from the issuer or the backend goes through a limit: past
 * it, reading stops and the request fails with a typed error that says so,
 * instead of the body being held in memory whole (700 MB killed the CLI).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as IdTokenVerifier from "../src/IdTokenVerifier.js"
import * as Limits from "../src/Limits.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import * as TokenManager from "../src/TokenManager.js"
import { backendHarness, backendRequests } from "./subscription-support.js"
import { harness, onRefresh, refreshFailingWith, refreshRequests, signIn, signInDue } from "./support.js"

const MiB = 1024 * 1024
const quiet = Logger.minimumLogLevel(LogLevel.None)

const fast = harness({ manager: { retry: { baseDelay: "2 millis" } } }).pipe(Layer.provideMerge(quiet))

describe("upstream bodies are read through a limit", () => {
  it("the limits", () => {
    assert.strictEqual(Limits.MAX_ISSUER_RESPONSE_BYTES, MiB)
    assert.strictEqual(Limits.MAX_ERROR_BODY_BYTES, MiB)
    assert.strictEqual(Limits.MAX_MODELS_BYTES, 8 * MiB)
  })

  it.live("a token answer (200) larger than 1 MiB: TokenEndpointError(InvalidResponse) saying so, not retried", () =>
    Effect.gen(function*() {
      const error = yield* refreshFailingWith(FakeHttp.largeBody(64 * MiB, { prefix: "{\"access_token\":\"", fill: "A" }))
      assert.strictEqual(error._tag, "TokenEndpointError")
      if (error._tag !== "TokenEndpointError") return
      assert.strictEqual(error.reason, "InvalidResponse")
      assert.strictEqual(error.status, 200)
      assert.include(error.message, "larger than 1 MiB")
      assert.lengthOf(yield* refreshRequests, 1)
    }).pipe(Effect.provide(fast)))

  it.live("a declared content-length over the limit is not read at all", () =>
    Effect.gen(function*() {
      const size = 1024 * MiB
      const error = yield* refreshFailingWith(FakeHttp.largeBody(size, { headers: { "content-type": "application/json", "content-length": String(size) } }))
      assert.isTrue(error._tag === "TokenEndpointError" && error.reason === "InvalidResponse", error.message)
      assert.include(error.message, "larger than 1 MiB")
    }).pipe(Effect.provide(fast)))

  it.live("an error answer (500) larger than 1 MiB: classified by its status, the body not read", () =>
    Effect.gen(function*() {
      yield* signInDue
      yield* onRefresh(FakeHttp.largeBody(64 * MiB, { status: 500 }), [1])
      // Retried like any 500; the next answer is the issuer's own.
      const tokens = yield* TokenManager.get
      assert.isTrue(Option.isSome(tokens.refreshToken))
      assert.lengthOf(yield* refreshRequests, 2)
      yield* onRefresh(FakeHttp.largeBody(64 * MiB, { status: 401 }), [1])
      const error = yield* Effect.flip(Effect.flatMap(TokenManager.TokenManager, (manager) => manager.recover(tokens.accessToken)))
      assert.isTrue(error._tag === "ReauthRequired" && error.reason === "RefreshRejected", error.message)
      if (error._tag === "ReauthRequired") assert.include(error.description ?? "", "larger than 1 MiB, was not read")
    }).pipe(Effect.provide(fast)))

  it.live("the issuer's keys (JWKS) larger than 1 MiB: JwksUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const tokens = yield* server.issueTokens()
      yield* server.inject({ endpoint: "jwks", fault: FakeHttp.largeBody(64 * MiB, { prefix: "{\"keys\":[\"" }) })
      const error = yield* Effect.flip(
        Effect.flatMap(IdTokenVerifier.IdTokenVerifier, (verifier) =>
          verifier.verify({ idToken: Redacted.value(Option.getOrThrow(tokens.idToken)), accessToken: Redacted.value(tokens.accessToken) }))
      )
      assert.strictEqual(error.reason, "JwksUnavailable")
    }).pipe(
      Effect.provide(IdTokenVerifier.layer().pipe(
        Layer.provideMerge(FakeOAuthServer.layerProvider),
        Layer.provideMerge(FakeOAuthServer.layer())
      ))
    ))

  it.live("the backend: an error answer larger than 1 MiB is classified by its status; a model list larger than 8 MiB falls back to the bundled one", () =>
    Effect.gen(function*() {
      yield* signIn()
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.largeBody(64 * MiB, { status: 400 }) })
      const error = yield* Effect.flip(SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("hi")] }))
      assert.isTrue(error._tag === "ResponseError" && error.reason === "InvalidRequest" && error.status === 400, error.message)
      assert.include(error.message, "larger than 1 MiB, was not read")
      assert.lengthOf(yield* backendRequests(), 1)

      yield* backend.inject({ endpoint: "models", fault: FakeHttp.largeBody(64 * MiB, { prefix: "{\"models\":[\"" }) })
      const list = yield* SubscriptionLLM.models
      assert.strictEqual(list.source, "bundled")
    }).pipe(
      Effect.provide(backendHarness().pipe(Layer.provideMerge(FakeOAuthServer.layer()), Layer.provideMerge(quiet))),
      Effect.provide(NodeHttpClient.layer)
    ))
})
