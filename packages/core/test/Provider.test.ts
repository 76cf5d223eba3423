import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Config } from "effect"
import * as Provider from "../src/Provider.js"

describe("Provider", () => {
  it("defaults to OpenAI as the Codex CLI uses it", () => {
    const p = Provider.openai
    assert.strictEqual(p.issuer, "https://auth.openai.com")
    assert.strictEqual(p.clientId, "app_EMoamEEZ73f0CkXaXp7hrann")
    assert.strictEqual(p.originator, "codex_cli_rs")
    assert.deepStrictEqual(p.scopes.join(" "), "openid profile email offline_access api.connectors.read api.connectors.invoke")
    assert.strictEqual(p.endpoints.token, "https://auth.openai.com/oauth/token")
    assert.strictEqual(p.endpoints.revoke, "https://auth.openai.com/oauth/revoke")
    assert.strictEqual(p.endpoints.deviceUserCode, "https://auth.openai.com/api/accounts/deviceauth/usercode")
    assert.strictEqual(p.endpoints.deviceToken, "https://auth.openai.com/api/accounts/deviceauth/token")
    assert.strictEqual(p.endpoints.deviceCallback, "https://auth.openai.com/deviceauth/callback")
    assert.strictEqual(p.endpoints.deviceVerification, "https://auth.openai.com/codex/device")
    assert.strictEqual(p.endpoints.jwks, "https://auth.openai.com/.well-known/jwks.json")
  })

  it.effect("derives every endpoint from another issuer, and lets each be overridden", () =>
    Effect.gen(function*() {
      const p = yield* Provider.make({
        issuer: "https://login.example.com/",
        endpoints: { revoke: "https://revoke.example.com/r" }
      })
      assert.strictEqual(p.issuer, "https://login.example.com")
      assert.strictEqual(p.endpoints.authorize, "https://login.example.com/oauth/authorize")
      assert.strictEqual(p.endpoints.revoke, "https://revoke.example.com/r")
      assert.strictEqual(p.name, "login.example.com")
    }))

  it.effect("refuses plain http unless allowed, and then only for loopback hosts", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(Provider.make({ issuer: "http://127.0.0.1:9999" }))
      assert.strictEqual(refused.reason, "InsecureEndpoint")
      assert.include(refused.message, "allowInsecureHttp")

      for (const host of ["127.0.0.1:1", "127.8.9.1", "localhost:80", "[::1]:5"]) {
        const ok = yield* Provider.make({ issuer: `http://${host}`, allowInsecureHttp: true })
        assert.strictEqual(ok.endpoints.token, `http://${host}/oauth/token`)
      }
      for (const host of ["example.com", "10.0.0.1", "0.0.0.0", "127.0.0.1.evil.com", "localhost.example"]) {
        const error = yield* Effect.flip(Provider.make({ issuer: `http://${host}`, allowInsecureHttp: true }))
        assert.strictEqual(error.reason, "InsecureEndpoint", host)
      }
      const endpoint = yield* Effect.flip(
        Provider.make({ issuer: "https://ok.example", endpoints: { token: "http://evil.example/token" }, allowInsecureHttp: true })
      )
      assert.strictEqual(endpoint.field, "endpoints.token")
    }))

  it.effect("refuses what is not an http(s) URL", () =>
    Effect.gen(function*() {
      for (const issuer of ["not a url", "ftp://auth.example", "file:///etc/passwd", "javascript:alert(1)"]) {
        const error = yield* Effect.flip(Provider.make({ issuer }))
        assert.strictEqual(error.reason, "InvalidUrl", issuer)
      }
    }))

  it.effect("layerConfig reads its options once, through Config", () =>
    Effect.gen(function*() {
      const layer = Provider.layerConfig({
        issuer: Config.string("ISSUER"),
        allowInsecureHttp: Config.boolean("INSECURE")
      })
      const withEnv = (env: Record<string, string>) =>
        Effect.exit(Effect.withConfigProvider(Effect.provide(Provider.Provider, layer), ConfigProvider.fromMap(new Map(Object.entries(env)))))
      const fake = yield* withEnv({ ISSUER: "http://127.0.0.1:4000", INSECURE: "true" })
      assert.isTrue(Exit.isSuccess(fake) && fake.value.endpoints.token === "http://127.0.0.1:4000/oauth/token")
      const insecure = yield* withEnv({ ISSUER: "http://127.0.0.1:4000" })
      assert.isTrue(Exit.isFailure(insecure))
      const defaults = yield* withEnv({})
      assert.isTrue(Exit.isSuccess(defaults) && defaults.value.issuer === "https://auth.openai.com")
      const badBoolean = yield* withEnv({ INSECURE: "maybe" })
      assert.isTrue(Exit.isFailure(badBoolean))
    }))
})
