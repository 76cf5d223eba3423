/**
 * Fifty streaming clients arrive when the access token has just expired: the
 * issuer sees exactly one refresh, and every backend request carries the one
 * new token (one shared token per profile, single-flight across clients).
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@subauth/core"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Option, Redacted } from "effect"
import { call, client, layer } from "./support.js"

const CLIENTS = 50

describe("refresh single flight through the proxy", () => {
  it.live(`${CLIENTS} concurrent streaming clients at an access-token expiry cause exactly one refresh request`, () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const store = yield* TokenStore.TokenStore
      const signedIn = Option.getOrThrow(yield* store.get("default"))
      // Expired now: the first request of any client must refresh.
      yield* store.set("default", new TokenSet.TokenSet({ ...signedIn, expiresAt: signedIn.obtainedAt }))
      yield* oauth.clearRequests
      yield* backend.configure({ respond: () => ({ items: [FakeCodexBackend.message("streamed to everyone", { chunks: 3 })] }) })

      const openai = yield* client()
      const texts = yield* call(() =>
        Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
          const stream = await openai.chat.completions.create({
            model: "gpt-5.5",
            messages: [{ role: "user", content: `client ${i}` }],
            stream: true
          })
          let text = ""
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
          return text
        }))
      )
      assert.lengthOf(texts, CLIENTS)
      assert.isTrue(texts.every((t) => t === "streamed to everyone"))

      const refreshes = (yield* oauth.requests).filter((r) => r.endpoint === "token")
      assert.lengthOf(refreshes, 1)
      const tokens = new Set(
        (yield* backend.requests)
          .filter((r) => r.endpoint === "responses")
          .map((r) => r.headers.find(([name]) => name === "authorization")![1])
      )
      const refreshed = Option.getOrThrow(yield* store.get("default"))
      assert.isFalse(TokenSet.sameRefreshToken(refreshed, signedIn), "the rotated tokens were stored")
      assert.deepStrictEqual([...tokens], [`Bearer ${Redacted.value(refreshed.accessToken)}`], "every request used the one new token")
    }).pipe(Effect.provide(layer())))
})
