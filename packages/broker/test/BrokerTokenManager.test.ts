/**
 * The same program on a broker-held sign-in: `SubscriptionLLM` over
 * `BrokerTokenManager` against the broker and the fake Codex backend. And the
 * typed `BrokerClient`, derived from the same API definition as the server.
 */
import { assert, it } from "@effect/vitest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SubscriptionLLM, TokenManager } from "@subauth/core"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Api from "../src/BrokerApi.js"
import * as BrokerClient from "../src/BrokerClient.js"
import * as BrokerServer from "../src/BrokerServer.js"
import * as BrokerTokenManager from "../src/BrokerTokenManager.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

const program = SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("Say hello")] })

// SubscriptionLLM on the broker's tokens for `userId`, pointed at the fake backend.
const viaBroker = (apiKey: Redacted.Redacted<string>, userId: string) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const { url } = yield* BrokerServer.BrokerServer
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    return SubscriptionLLM.layer(backend.clientOptions).pipe(
      Layer.orDie,
      Layer.provideMerge(BrokerTokenManager.layer({ url, apiKey, userId, label: "test agent" })),
      Layer.provide(NodeHttpClient.layer)
    )
  }))

const connected = (userId: string) =>
  Effect.gen(function*() {
    const { id, key } = yield* tenant()
    const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
    yield* (yield* SqlTokenStore.make({ tenantId: id })).set(userId, tokens)
    return { id, key, tokens }
  })

const withBackend = (engine: Engine) =>
  FakeCodexBackend.layer({ respond: () => ({ items: [FakeCodexBackend.message("hello from the fake")] }) }).pipe(
    Layer.provideMerge(brokerLayer(engine))
  )

forEachEngine("BrokerTokenManager", (engine: Engine) => {
  it.live("SubscriptionLLM runs unchanged on a broker-held sign-in; the program never sees a refresh token", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const { key, tokens } = yield* connected("alice")
      const result = yield* program.pipe(Effect.provide(viaBroker(key, "alice")))
      assert.strictEqual(result.text, "hello from the fake")
      const sent = (yield* backend.requests).find((r) => r.endpoint === "responses")!
      const authorization = sent.headers.find(([name]) => name === "authorization")?.[1]
      assert.strictEqual(authorization, `Bearer ${Redacted.value(tokens.accessToken)}`)
      const manager = yield* TokenManager.TokenManager.pipe(Effect.provide(viaBroker(key, "alice")))
      assert.isTrue(Option.isNone((yield* manager.get).refreshToken))
      const audit = yield* call("GET", "/v1/audit?user_id=alice", { key })
      assert.isTrue(audit.body.events.some((e: { event: string; detail: { label?: string } }) => e.event === "token.issued" && e.detail.label === "test agent"))
    }).pipe(Effect.provide(withBackend(engine))))

  it.live("a token the backend refuses (401) is replaced through the broker, and the turn succeeds", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const { key, tokens } = yield* connected("bob")
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(401, { error: { message: "expired" } }), calls: [1] })
      const result = yield* program.pipe(Effect.provide(viaBroker(key, "bob")))
      assert.strictEqual(result.text, "hello from the fake")
      const authorizations = (yield* backend.requests).filter((r) => r.endpoint === "responses")
        .map((r) => r.headers.find(([name]) => name === "authorization")?.[1])
      assert.lengthOf(authorizations, 2)
      assert.strictEqual(authorizations[0], `Bearer ${Redacted.value(tokens.accessToken)}`)
      assert.notStrictEqual(authorizations[1], authorizations[0])
    }).pipe(Effect.provide(withBackend(engine))))

  it.live("a user who is not connected is ReauthRequired(NotSignedIn); a bad key a TokenEndpointError", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const missing = yield* Effect.flip(program.pipe(Effect.provide(viaBroker(key, "nobody"))))
      assert.isTrue(missing._tag === "ReauthRequired" && missing.reason === "NotSignedIn", String(missing))
      const badKey = yield* Effect.flip(program.pipe(Effect.provide(viaBroker(Redacted.make("sab_" + "x".repeat(43)), "nobody"))))
      assert.isTrue(badKey._tag === "TokenEndpointError" && badKey.status === 401, String(badKey))
    }).pipe(Effect.provide(withBackend(engine))))

  it.live("the typed client speaks the same API: sessions, connection, token, audit", () =>
    Effect.gen(function*() {
      const { url } = yield* BrokerServer.BrokerServer
      const { key } = yield* connected("carol")
      const client = yield* BrokerClient.make({ url, apiKey: key }).pipe(Effect.provide(NodeHttpClient.layer))
      const session = yield* client.connect.create({ payload: new Api.CreateSessionRequest({ user_id: "dan", method: "paste", accept_terms: true }) })
      assert.strictEqual(session.status, "pending")
      assert.isNotNull(session.paste)
      const connection = yield* client.users.connection({ path: { user_id: "carol" } })
      assert.strictEqual(connection.status, "connected")
      const token = yield* client.users.token({ path: { user_id: "carol" }, payload: new Api.TokenRequest({}) })
      assert.isTrue(Redacted.isRedacted(token.access_token))
      assert.notInclude(String(token.access_token), "eyJ")
      const missing = yield* Effect.flip(client.users.token({ path: { user_id: "nobody" }, payload: new Api.TokenRequest({}) }))
      assert.instanceOf(missing, Api.NotFound)
      const page = yield* client.audit.list({ urlParams: { user_id: "carol" } })
      assert.isAbove(page.events.length, 0)
    }).pipe(Effect.provide(withBackend(engine))))
})
