/**
 * The root README's program, run as it is written: on a user's broker-held
 * sign-in (the broker and the fake backend over loopback), and on the fakes
 * alone. (The first layer, a person's own sign-in, is what the CLI tests run.)
 */
import { assert, it } from "@effect/vitest"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { ConfigProvider, Effect, Layer } from "effect"
import * as BrokerServer from "../src/BrokerServer.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { program, SubscriptionTest, SubscriptionViaBroker } from "./examples/readme-1.js"
import { brokerLayer, tenant } from "./harness.js"

const ANSWER = "PKCE binds the code to the client that asked for it."

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
