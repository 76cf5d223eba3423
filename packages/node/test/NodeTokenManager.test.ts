import { assert, describe, it } from "@effect/vitest"
import { TokenManager, TokenSet, TokenStore } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as NodeTokenManager from "../src/NodeTokenManager.js"

const fixture = JSON.parse(
  readFileSync(new URL("../../../fixtures/codex-cli/refresh-request.json", import.meta.url), "utf8")
) as { headers_in_order: ReadonlyArray<readonly [string, string]> }

describe("NodeTokenManager", () => {
  it.live("refreshes over node:http with the Codex CLI's header order", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const issued = yield* server.issueTokens()
      yield* (yield* TokenStore.TokenStore).set("default", new TokenSet.TokenSet({ ...issued, expiresAt: issued.obtainedAt }))
      const tokens = yield* TokenManager.get
      assert.isFalse(TokenSet.hasAccessToken(tokens, issued.accessToken))
      const [request] = (yield* server.requests).filter((r) => r.endpoint === "token")
      const appHeaders = (h: ReadonlyArray<readonly [string, string]>) =>
        h.map(([n]) => n).filter((n) => !["host", "content-length", "connection"].includes(n))
      assert.deepStrictEqual(appHeaders(request!.headers), appHeaders(fixture.headers_in_order))
      assert.strictEqual(
        request!.fields.find(([k]) => k === "refresh_token")?.[1],
        Redacted.value(Option.getOrThrow(issued.refreshToken))
      )
    }).pipe(
      Effect.provide(
        NodeTokenManager.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(FakeOAuthServer.layerProvider),
          Layer.provideMerge(FakeOAuthServer.layer())
        )
      )
    ))
})
