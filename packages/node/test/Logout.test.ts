import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin, Login, TokenStore } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { loginWith, makeBrowser, makeHarness, stored } from "./login-support.js"

const fixture = JSON.parse(readFileSync(new URL("../../../fixtures/codex-cli/revoke-request.json", import.meta.url), "utf8"))

describe("logout", () => {
  it.effect("revokes the refresh token as the Codex CLI does, then deletes the tokens", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer } = yield* makeHarness({ browser: browser.layer })
      yield* Effect.gen(function*() {
        const { tokens } = yield* loginWith(BrowserLogin.layer({ ports: [0] }))
        const result = yield* Login.logout()
        assert.deepStrictEqual(result, { profile: "default", signedIn: true, revoke: "revoked" })
        assert.isTrue(Option.isNone(yield* stored))
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const revoke = (yield* server.requests).find((r) => r.endpoint === "revoke")!
        assert.deepStrictEqual(FakeHttp.differences(fixture, revoke), [])
        assert.strictEqual(Object.fromEntries(revoke.fields).token, Redacted.value(Option.getOrThrow(tokens.refreshToken)))
        assert.isTrue(Option.isNone(yield* server.verifyAccessToken(Redacted.value(tokens.accessToken))), "the grant is dead")
        assert.deepStrictEqual(yield* Login.logout(), { profile: "default", signedIn: false, revoke: "skipped" })
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a failed revocation is reported and the tokens are deleted anyway; --no-revoke skips it", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const store = yield* TokenStore.TokenStore
        const issued = yield* server.issueTokens()
        yield* store.set("default", issued)
        yield* server.inject({ endpoint: "revoke", fault: FakeHttp.status(500) })
        const result = yield* Login.logout()
        assert.strictEqual(result.revoke, "failed")
        assert.include(result.revokeError ?? "", "500")
        assert.isTrue(Option.isNone(yield* stored))
        yield* store.set("default", issued)
        assert.deepStrictEqual(yield* Login.logout({ revoke: false }), { profile: "default", signedIn: true, revoke: "skipped" })
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a login that replaces other tokens revokes them", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer } = yield* makeHarness({ browser: browser.layer })
      yield* Effect.gen(function*() {
        const first = yield* loginWith(BrowserLogin.layer({ ports: [0] }))
        const second = yield* loginWith(BrowserLogin.layer({ ports: [0] }))
        assert.strictEqual(first.replaced, "nothing")
        assert.strictEqual(second.replaced, "revoked")
        const server = yield* FakeOAuthServer.FakeOAuthServer
        assert.isTrue(Option.isNone(yield* server.verifyAccessToken(Redacted.value(first.tokens.accessToken))))
        assert.isTrue(Option.isSome(yield* server.verifyAccessToken(Redacted.value(second.tokens.accessToken))))
      }).pipe(Effect.provide(layer))
    }))
})
