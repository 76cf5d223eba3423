/**
 * One login shared with the Codex CLI through `auth.json`: the CLI refreshes
 * on its own schedule and never takes subauth's lock.
 */
import { assert, describe, it } from "@effect/vitest"
import { FileSystem, type HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { type Provider, TokenEndpoint, TokenManager, TokenSet, TokenStore } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, Fiber, Layer, Option, Redacted, type Scope } from "effect"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { codexLoads, run, tempDir } from "./support.js"

const AUTH = "https://api.openai.com/auth"

/** What `codex` writes after a login or a refresh: its own fields only (protocol.md §4.3). */
const writeAsCodex = (file: string, tokens: TokenSet.TokenSet, extra: Record<string, unknown> = {}) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.writeFileString(
      file,
      JSON.stringify(
        {
          auth_mode: "chatgpt",
          OPENAI_API_KEY: null,
          tokens: {
            id_token: Redacted.value(Option.getOrThrow(tokens.idToken)),
            access_token: Redacted.value(tokens.accessToken),
            refresh_token: Redacted.value(Option.getOrThrow(tokens.refreshToken)),
            account_id: Option.getOrNull(tokens.accountId)
          },
          last_refresh: DateTime.formatIso(tokens.obtainedAt),
          ...extra
        },
        null,
        2
      ),
      { mode: 0o600 }
    ))

const harness = Effect.gen(function*() {
  const home = yield* tempDir
  const server = yield* FakeOAuthServer.FakeOAuthServer
  const store = yield* NodeTokenStore.makeCodex(home)
  const manager = yield* TokenManager.make().pipe(Effect.provideService(TokenStore.TokenStore, store))
  const refreshes = Effect.map(server.requests, (rs) => rs.filter((r) => r.endpoint === "token"))
  return { file: join(home, "auth.json"), manager, refreshes, server }
})

type Needs = FakeOAuthServer.FakeOAuthServer | Provider.Provider | HttpClient.HttpClient | FileSystem.FileSystem | Scope.Scope

const provide = <A, E>(effect: Effect.Effect<A, E, Needs>) =>
  effect.pipe(
    Effect.provide(FakeOAuthServer.layerProvider.pipe(Layer.provideMerge(FakeOAuthServer.layer()))),
    Effect.provide(NodeHttpClient.layer),
    run
  )

describe("a login shared with the Codex CLI", () => {
  it.live("tokens `codex login` wrote are used as they are, with no request", () =>
    provide(Effect.gen(function*() {
      const { file, manager, refreshes, server } = yield* harness
      const login = yield* server.issueTokens()
      yield* writeAsCodex(file, login)
      const tokens = yield* manager.get
      assert.isTrue(TokenSet.hasAccessToken(tokens, login.accessToken))
      assert.deepStrictEqual(tokens.accountId, login.accountId)
      assert.lengthOf(yield* refreshes, 0)
    })))

  it.live("a refresh by subauth leaves an auth.json the CLI loads, with the new tokens and its other fields kept", () =>
    provide(Effect.gen(function*() {
      const { file, manager, refreshes, server } = yield* harness
      const fs = yield* FileSystem.FileSystem
      // Due now: the access token lives one second.
      const login = yield* server.issueTokens({ accessTokenLifetime: "1 second" })
      yield* writeAsCodex(file, login, { OPENAI_API_KEY: "sk-proj-FAKE-kept" })
      yield* Effect.sleep("1100 millis")
      const tokens = yield* manager.get
      assert.lengthOf(yield* refreshes, 1)
      const text = yield* fs.readFileString(file)
      assert.isTrue(codexLoads(text))
      const json = JSON.parse(text) as { OPENAI_API_KEY: string; tokens: Record<string, string> }
      assert.strictEqual(json.OPENAI_API_KEY, "sk-proj-FAKE-kept")
      assert.strictEqual(json.tokens.access_token, Redacted.value(tokens.accessToken))
      assert.strictEqual(json.tokens.refresh_token, Redacted.value(Option.getOrThrow(tokens.refreshToken)))
      const claims = yield* server.verifyAccessToken(json.tokens.access_token!)
      assert.strictEqual((Option.getOrThrow(claims)[AUTH] as { chatgpt_account_id: string }).chatgpt_account_id, json.tokens.account_id)
    })))

  it.live("the CLI refreshing at the same moment: subauth's refresh_token_reused is recovered from auth.json", () =>
    provide(Effect.gen(function*() {
      const { file, manager, refreshes, server } = yield* harness
      const login = yield* server.issueTokens({ accessTokenLifetime: "1 second" })
      yield* writeAsCodex(file, login)
      yield* Effect.sleep("1100 millis")
      // subauth's request arrives first and is held; meanwhile the CLI spends the same refresh token and writes.
      yield* server.inject({ endpoint: "token", fault: FakeHttp.latency("500 millis"), calls: [1] })
      const ours = yield* Effect.fork(manager.get)
      while ((yield* refreshes).length === 0) yield* Effect.sleep("5 millis")
      const cli = yield* TokenEndpoint.refresh({
        refreshToken: Option.getOrThrow(login.refreshToken),
        reason: "proactive_expiry",
        profile: "default"
      })
      yield* writeAsCodex(file, TokenSet.fromResponse(cli, DateTime.unsafeMake(Date.now()), login))
      const tokens = yield* Fiber.join(ours)
      assert.strictEqual(Redacted.value(tokens.accessToken), Redacted.value(cli.access_token))
      assert.lengthOf(yield* refreshes, 2)
    })))
})
