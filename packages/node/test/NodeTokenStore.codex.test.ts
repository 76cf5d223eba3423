import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { DateTime, Effect, Option, Redacted } from "effect"
import { TokenSet, TokenStore } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { codexAcceptsIdToken } from "../src/internal/codexAuth.js"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { codexLoads, encode, failure, fresh, modeOf, outcome, run, tempDir } from "./support.js"

TokenStoreSuite.run("codex", fresh((codexHome) => NodeTokenStore.layerCodex(codexHome)))

const fixture = <A>(name: string): A =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8")) as A

const written = fixture<{ auth_json: Record<string, any> }>("auth-json-written-by-login.json").auth_json
const verdicts = fixture<{
  variants: Record<string, { codex_login_status_exit: number; auth_json: string | null }>
}>("auth-json-login-status.json").variants

const { full, large, minimal } = TokenStoreSuite.samples

const setUp = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const home = yield* tempDir
  const store = yield* NodeTokenStore.makeCodex(home)
  const file = join(home, "auth.json")
  const put = (json: unknown) => fs.writeFileString(file, typeof json === "string" ? json : JSON.stringify(json, null, 2), { mode: 0o600 })
  const read = Effect.map(fs.readFileString(file), (text) => ({ text, json: JSON.parse(text) as Record<string, any> }))
  return { fs, home, store, file, put, read }
})

describe("NodeTokenStore.layerCodex", () => {
  it("the model of the Codex CLI's parser agrees with the real CLI on every fixture variant", () => {
    for (const [name, variant] of Object.entries(verdicts)) {
      if (variant.auth_json === null) continue
      assert.strictEqual(codexLoads(variant.auth_json), variant.codex_login_status_exit === 0, name)
    }
    assert.isTrue(codexLoads(JSON.stringify(written)))
  })

  it("codexAcceptsIdToken agrees with the real CLI on the fixture's id tokens", () => {
    let refused = 0
    for (const [name, variant] of Object.entries(verdicts)) {
      // Variants refused for another reason say nothing about their id token.
      if (variant.codex_login_status_exit !== 0 && !name.startsWith("id-")) continue
      const idToken = variant.auth_json === null ? undefined : (() => {
        try {
          return (JSON.parse(variant.auth_json) as { tokens?: { id_token?: string } }).tokens?.id_token
        } catch {
          return undefined
        }
      })()
      if (idToken === undefined) continue
      assert.strictEqual(codexAcceptsIdToken(idToken), variant.codex_login_status_exit === 0, name)
      if (variant.codex_login_status_exit !== 0) refused++
    }
    assert.strictEqual(refused, 3)
  })

  it.live("reads what `codex login` wrote: tokens, account from account_id and claims, last_refresh, expiry from the JWT", () =>
    run(Effect.gen(function*() {
      const { put, store } = yield* setUp
      yield* put(written)
      const tokens = Option.getOrThrow(yield* store.get("default"))
      assert.strictEqual(Redacted.value(tokens.accessToken), written.tokens.access_token)
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), written.tokens.refresh_token)
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.idToken)), written.tokens.id_token)
      assert.deepStrictEqual(tokens.accountId, Option.some(written.tokens.account_id))
      assert.deepStrictEqual(tokens.email, Option.some("fake.user@example.com"))
      assert.deepStrictEqual(tokens.planType, Option.some("plus"))
      assert.strictEqual(DateTime.formatIso(tokens.obtainedAt), "2026-11-22T10:28:31.786Z")
      assert.strictEqual(DateTime.toEpochMillis(tokens.expiresAt), 1_795_346_911_000)
      assert.isFalse(tokens.claimsVerified)
    })))

  it.live("reads every variant the CLI accepts; no ChatGPT tokens (API key, none) is no tokens, not an error", () =>
    run(Effect.gen(function*() {
      const { put, store } = yield* setUp
      for (const [name, variant] of Object.entries(verdicts)) {
        if (variant.auth_json === null || variant.codex_login_status_exit !== 0) continue
        yield* put(variant.auth_json)
        const read = yield* store.get("default")
        const hasTokens = (JSON.parse(variant.auth_json) as { tokens?: unknown }).tokens !== undefined
        assert.strictEqual(Option.isSome(read), hasTokens, name)
      }
      yield* put(verdicts["malformed-json"]!.auth_json!)
      assert.strictEqual(yield* outcome(store.get("default")), "Corrupt")
    })))

  it.live("what it writes, the Codex CLI loads: tokens in the CLI's fields, auth_mode chatgpt, last_refresh, mode 0600", () =>
    run(Effect.gen(function*() {
      const { file, read, store } = yield* setUp
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const issued = yield* server.issueTokens()
      for (const tokens of [issued, full, large, minimal]) {
        yield* store.set("default", tokens)
        const { json, text } = yield* read
        assert.isTrue(codexLoads(text))
        assert.strictEqual(json.auth_mode, "chatgpt")
        assert.strictEqual(json.OPENAI_API_KEY, null)
        assert.strictEqual(json.last_refresh, DateTime.formatIso(tokens.obtainedAt))
        assert.strictEqual(yield* modeOf(file), 0o600)
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("default"))), encode(tokens))
      }
      // Real tokens go where the CLI reads them.
      yield* store.set("default", issued)
      const { json } = yield* read
      assert.deepStrictEqual(Object.keys(json.tokens), ["id_token", "access_token", "refresh_token", "account_id"])
      assert.strictEqual(json.tokens.access_token, Redacted.value(issued.accessToken))
      assert.strictEqual(json.tokens.account_id, Option.getOrThrow(issued.accountId))
      // Tokens the CLI could not load (no id token, no refresh token) never break its file: it just sees no tokens.
      yield* store.set("default", minimal)
      assert.isUndefined((yield* read).json.tokens)
    }).pipe(Effect.provide(FakeOAuthServer.layer()))))

  it.live("writing keeps OPENAI_API_KEY, oauth_provenance, login_owner_id and fields it does not know", () =>
    run(Effect.gen(function*() {
      const { put, read, store } = yield* setUp
      yield* put({ ...written, agent_identity: "agent-FAKE", future_field: { x: 1 } })
      const before = Option.getOrThrow(yield* store.get("default"))
      const rotated = new TokenSet.TokenSet({
        ...before,
        accessToken: Redacted.make(`${written.tokens.access_token}x`),
        refreshToken: Option.some(Redacted.make("rt_FAKE_rotated"))
      })
      yield* store.set("default", rotated)
      const { json, text } = yield* read
      assert.isTrue(codexLoads(text))
      assert.strictEqual(json.OPENAI_API_KEY, written.OPENAI_API_KEY)
      assert.deepStrictEqual(json.tokens.oauth_provenance, written.tokens.oauth_provenance)
      assert.strictEqual(json.tokens.login_owner_id, written.tokens.login_owner_id)
      assert.strictEqual(json.tokens.refresh_token, "rt_FAKE_rotated")
      assert.strictEqual(json.agent_identity, "agent-FAKE")
      assert.deepStrictEqual(json.future_field, { x: 1 })
      assert.deepStrictEqual(Object.keys(json).slice(0, 4), ["auth_mode", "OPENAI_API_KEY", "tokens", "last_refresh"])
    })))

  it.live("after the Codex CLI rewrites the file (new tokens, subauth's extra key dropped or stale), tokens come from the file", () =>
    run(Effect.gen(function*() {
      const { put, read, store } = yield* setUp
      const server = yield* FakeOAuthServer.FakeOAuthServer
      // subauth's own idea of expiry differs from the JWT's: it must not survive a change of tokens.
      const ours = yield* server.issueTokens()
      yield* store.set("default", new TokenSet.TokenSet({ ...ours, expiresAt: ours.obtainedAt, email: Option.some("other@example.com") }))
      const cli = yield* server.issueTokens()
      const { json } = yield* read
      const refreshedByCli = {
        ...json.tokens,
        access_token: Redacted.value(cli.accessToken),
        refresh_token: Redacted.value(Option.getOrThrow(cli.refreshToken))
      }
      for (const file of [{ ...json, tokens: refreshedByCli, subauth: undefined }, { ...json, tokens: refreshedByCli }]) {
        yield* put(file)
        const tokens = Option.getOrThrow(yield* store.get("default"))
        assert.isTrue(TokenSet.hasAccessToken(tokens, cli.accessToken))
        assert.deepStrictEqual(tokens.expiresAt, cli.expiresAt)
        assert.deepStrictEqual(tokens.email, Option.some("fake.user@example.com"))
      }
    }).pipe(Effect.provide(FakeOAuthServer.layer()))))

  it.live("profile default is CODEX_HOME/auth.json; another is a Codex home of its own under subauth-profiles/", () =>
    run(Effect.gen(function*() {
      const { fs, home, store } = yield* setUp
      yield* store.set("default", full)
      yield* store.set("work", large)
      assert.isTrue(yield* fs.exists(join(home, "auth.json")))
      const work = join(home, "subauth-profiles", "work", "auth.json")
      assert.isTrue(codexLoads(yield* fs.readFileString(work)))
      assert.strictEqual(NodeTokenStore.codexHomeOf(home, "work"), join(home, "subauth-profiles", "work"))
    })))

  it.live("remove drops the ChatGPT sign-in but keeps an API key; with nothing else left the file goes", () =>
    run(Effect.gen(function*() {
      const { fs, file, put, read, store } = yield* setUp
      yield* put(written)
      yield* store.remove("default")
      const { json, text } = yield* read
      assert.deepStrictEqual(json, { OPENAI_API_KEY: written.OPENAI_API_KEY })
      assert.isTrue(codexLoads(text))
      assert.isTrue(Option.isNone(yield* store.get("default")))
      yield* put({ ...written, OPENAI_API_KEY: null })
      yield* store.remove("default")
      assert.isFalse(yield* fs.exists(file))
    })))

  it.live("an auth.json others can read is refused; one that is not JSON is Corrupt and never overwritten", () =>
    run(Effect.gen(function*() {
      const { fs, file, put, store } = yield* setUp
      yield* put(written)
      yield* fs.chmod(file, 0o644)
      const insecure = yield* failure(store.get("default"))
      assert.strictEqual(insecure.reason, "InsecurePermissions")
      assert.include(insecure.message, `chmod 600 '${file}'`)
      yield* fs.chmod(file, 0o600)
      yield* put("{ not json")
      for (const op of [store.get("default"), store.set("default", full), store.remove("default")]) {
        const error = yield* failure(op)
        assert.strictEqual(error.reason, "Corrupt")
        assert.strictEqual(error.location, file)
      }
      assert.strictEqual(yield* fs.readFileString(file), "{ not json")
    })))

  it.live("the lock lives next to auth.json and goes when released", () =>
    run(Effect.gen(function*() {
      const { fs, home, store } = yield* setUp
      const lockFile = join(home, "auth.json.subauth.lock")
      assert.isTrue(yield* store.withLock(TokenStore.DEFAULT_PROFILE, fs.exists(lockFile)))
      assert.isFalse(yield* fs.exists(lockFile))
    })))
})
