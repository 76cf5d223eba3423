/**
 * The root README's program, run as it is written through its three layers: a
 * person's own sign-in (a file store, with SUBAUTH_ISSUER and SUBAUTH_CODEX_URL
 * pointing at the fakes), a user's broker-held sign-in (the broker and the fake
 * backend over loopback), and the fakes alone.
 */
import { assert, it } from "@effect/vitest"
import { TokenStore } from "@subauth/core"
import { NodeTokenStore } from "@subauth/node"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as BrokerServer from "../src/BrokerServer.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { program, SubscriptionLive, SubscriptionTest, SubscriptionViaBroker } from "./examples/readme-1.js"
import { brokerLayer, tenant } from "./harness.js"
import { tempDir } from "./support.js"

const ANSWER = "PKCE binds the code to the client that asked for it."

it.live("the README's program on your own sign-in, with the issuer and the backend from the environment", () =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.FakeOAuthServer
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    const home = yield* tempDir
    const tokens = yield* oauth.issueTokens()
    yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("default", tokens)).pipe(
      Effect.provide(NodeTokenStore.layerFile(home))
    )
    // The backend refuses the stored access token: the refresh that follows goes to SUBAUTH_ISSUER.
    yield* backend.rejectAccessToken(Redacted.value(tokens.accessToken))
    const text = yield* program.pipe(
      Effect.provide(SubscriptionLive),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
        ["SUBAUTH_ISSUER", oauth.url],
        ["SUBAUTH_CODEX_URL", backend.baseUrl],
        ["SUBAUTH_ALLOW_INSECURE_HTTP", "true"],
        ["SUBAUTH_STORE", "file"],
        ["SUBAUTH_HOME", home]
      ])))
    )
    assert.strictEqual(text, ANSWER)
    assert.deepStrictEqual((yield* oauth.requests).map((r) => r.endpoint), ["token"])
    assert.deepStrictEqual((yield* backend.requests).map((r) => r.endpoint), ["responses", "responses"])
  }).pipe(
    Effect.scoped,
    Effect.provide(FakeCodexBackend.layer({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER)] }) }).pipe(
      Layer.provideMerge(FakeOAuthServer.layer())
    ))
  ))

it.live("the README's program on a broker-held sign-in", () =>
  Effect.gen(function*() {
    const { url } = yield* BrokerServer.BrokerServer
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    const { id, key } = yield* tenant()
    yield* (yield* SqlTokenStore.make({ tenantId: id })).set("alice", yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens())
    const text = yield* program.pipe(
      Effect.provide(SubscriptionViaBroker({ url, apiKey: key, userId: "alice" })),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
        ["SUBAUTH_CODEX_URL", backend.baseUrl],
        ["SUBAUTH_ALLOW_INSECURE_HTTP", "true"]
      ])))
    )
    assert.strictEqual(text, ANSWER)
  }).pipe(Effect.provide(
    FakeCodexBackend.layer({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER)] }) }).pipe(Layer.provideMerge(brokerLayer("sqlite")))
  )))

it.live("the README's program on the fakes", () =>
  Effect.gen(function*() {
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    yield* backend.configure({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER)] }) })
    assert.strictEqual(yield* program, ANSWER)
  }).pipe(Effect.provide(SubscriptionTest)))
