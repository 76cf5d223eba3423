import { assert, describe, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import { InjectedLogin, TokenManager, TokenSet, TokenStore } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Encoding, Option, Redacted, TestClock } from "effect"
import * as jose from "jose"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loginWith, makeHarness, stored } from "./login-support.js"

describe("injected tokens", () => {
  it.effect("enter the same lifecycle: verified, stored, and refreshed when due", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const held = yield* server.issueTokens()
        const result = yield* loginWith(InjectedLogin.layer({
          accessToken: held.accessToken,
          refreshToken: Option.getOrUndefined(held.refreshToken),
          idToken: Option.getOrUndefined(held.idToken)
        }))
        assert.strictEqual(result.method, "injected")
        assert.isTrue(result.tokens.claimsVerified)
        yield* TestClock.setTime(held.expiresAt.epochMillis)
        const refreshed = yield* TokenManager.get.pipe(Effect.provide(TokenManager.layer()))
        assert.isFalse(TokenSet.hasAccessToken(refreshed, held.accessToken))
        assert.isTrue(refreshed.claimsVerified, "the account stays verified across refreshes")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("an access token alone is accepted, unverified, and used until it expires", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const held = yield* Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (s) => s.issueTokens())
        const result = yield* loginWith(InjectedLogin.layer({ accessToken: held.accessToken }))
        assert.isFalse(result.tokens.claimsVerified)
        assert.deepStrictEqual(result.tokens.accountId, held.accountId)
        assert.isTrue(Option.isNone(result.tokens.refreshToken))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a forged id token is refused with its reason and nothing is stored", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const held = yield* Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (s) => s.issueTokens())
        const [h, p, sig] = Redacted.value(Option.getOrThrow(held.idToken)).split(".")
        const payload = JSON.parse(new TextDecoder().decode(Encoding.decodeBase64Url(p!).pipe((e) => (e._tag === "Right" ? e.right : new Uint8Array()))))
        payload.email = "someone.else@example.com"
        const forged = `${h}.${Encoding.encodeBase64Url(JSON.stringify(payload))}.${sig}`
        const error = yield* Effect.flip(loginWith(InjectedLogin.layer({ accessToken: held.accessToken, idToken: Redacted.make(forged) })))
        assert.isTrue(error._tag === "ClaimsError" && error.reason === "InvalidSignature")
        assert.isTrue(Option.isNone(yield* stored))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("id tokens of another issuer, for another client, or unsigned: each refused, nothing stored", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const held = yield* server.issueTokens()
        const claims = {
          aud: [server.clientId],
          sub: "auth0|user",
          "https://api.openai.com/auth": { chatgpt_account_id: FakeOAuthServer.defaultAccount.accountId }
        }
        const cases = [
          ["WrongIssuer", yield* server.signToken(claims, { issuer: "https://auth.evil.example" })],
          ["WrongAudience", yield* server.signToken({ ...claims, aud: ["app_someone_else"] })],
          ["UnsupportedAlgorithm", new jose.UnsecuredJWT({ ...claims, iss: server.url }).setIssuedAt().setExpirationTime("1h").encode()]
        ] as const
        for (const [reason, idToken] of cases) {
          const error = yield* Effect.flip(loginWith(InjectedLogin.layer({ accessToken: held.accessToken, idToken: Redacted.make(idToken) })))
          assert.isTrue(error._tag === "ClaimsError" && error.reason === reason, `${reason}: ${error.message}`)
          assert.isTrue(Option.isNone(yield* stored))
        }
      }).pipe(Effect.provide(layer))
    }))

  it.effect("from a Codex CLI auth.json file", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const held = yield* server.issueTokens()
        const template = JSON.parse(readFileSync(new URL("../../../fixtures/codex-cli/auth-json-written-by-login.json", import.meta.url), "utf8")).auth_json
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-codex-"))),
          (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
        )
        const path = join(dir, "auth.json")
        writeFileSync(path, JSON.stringify({
          ...template,
          tokens: {
            ...template.tokens,
            id_token: Redacted.value(Option.getOrThrow(held.idToken)),
            access_token: Redacted.value(held.accessToken),
            refresh_token: Redacted.value(Option.getOrThrow(held.refreshToken))
          }
        }), { mode: 0o600 })
        const result = yield* loginWith(InjectedLogin.layerCodexAuthFile(path)).pipe(Effect.provide(NodeContext.layer))
        assert.isTrue(result.tokens.claimsVerified)
        assert.isTrue(TokenSet.sameRefreshToken(result.tokens, held))

        const missing = yield* Effect.flip(loginWith(InjectedLogin.layerCodexAuthFile(join(dir, "nope.json"))).pipe(Effect.provide(NodeContext.layer)))
        assert.isTrue(missing._tag === "LoginError" && missing.reason === "InvalidInput" && missing.message.includes("no such file"))
        writeFileSync(path, JSON.stringify({ OPENAI_API_KEY: "sk-secret-key-value", tokens: null }))
        const apiKey = yield* Effect.flip(loginWith(InjectedLogin.layerCodexAuthFile(path)).pipe(Effect.provide(NodeContext.layer)))
        assert.include(apiKey.message, "API key")
        assert.notInclude(apiKey.message, "sk-secret-key-value")
        writeFileSync(path, "{ not json")
        const broken = yield* Effect.flip(loginWith(InjectedLogin.layerCodexAuthFile(path)).pipe(Effect.provide(NodeContext.layer)))
        assert.isTrue(broken._tag === "LoginError" && broken.reason === "InvalidInput")
        // Still the first import.
        assert.isTrue(TokenSet.sameRefreshToken(Option.getOrThrow(yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.get("default"))), held))
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped))
})
