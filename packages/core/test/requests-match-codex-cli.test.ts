/**
 * Our refresh, code exchange and revoke requests against the ones captured from
 * Codex CLI 0.169 (`fixtures/codex-cli/`): method, path, content type, header
 * names and their order, body field names and their order.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, Option, Redacted, TestClock } from "effect"
import * as Pkce from "../src/Pkce.js"
import * as Provider from "../src/Provider.js"
import * as SecureRandom from "../src/SecureRandom.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenManager from "../src/TokenManager.js"
import { codexFixture } from "./fixtures.js"
import { harness, signIn } from "./support.js"

type Fixture = FakeHttp.CapturedRequest & { readonly body: Record<string, string> }

const compare = (fixture: Fixture, request: FakeHttp.RecordedRequest) =>
  assert.deepStrictEqual(FakeHttp.differences(fixture, request), [])

describe("requests match the Codex CLI's", () => {
  it.effect("refresh: JSON {client_id, grant_type, refresh_reason, refresh_token} with originator and user-agent", () =>
    Effect.gen(function*() {
      const fixture = codexFixture<Fixture>("refresh-request.json")
      const signedIn = yield* signIn()
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      yield* TokenManager.get
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const [request] = (yield* server.requests).filter((r) => r.endpoint === "token")
      compare(fixture, request!)
      const header = (name: string) => request!.headers.find(([n]) => n === name)?.[1]
      assert.strictEqual(header("originator"), "codex_cli_rs")
      assert.match(header("user-agent")!, /^subauth\/\d+\.\d+\.\d+/)
      const body = Object.fromEntries(request!.fields)
      assert.strictEqual(body.client_id, fixture.body.client_id)
      assert.strictEqual(body.grant_type, "refresh_token")
      assert.strictEqual(body.refresh_reason, "proactive_expiry")
      assert.strictEqual(body.refresh_token, Redacted.value(Option.getOrThrow(signedIn.refreshToken)))
    }).pipe(Effect.provide(harness())))

  it.effect("authorization code exchange: form-encoded, no originator or user-agent", () =>
    Effect.gen(function*() {
      const fixture = codexFixture<Fixture>("browser-token-exchange.json")
      const provider = yield* Provider.Provider
      const pkce = yield* Pkce.make
      const redirectUri = fixture.body.redirect_uri!
      const authorize = new URL(provider.endpoints.authorize)
      authorize.search = new URLSearchParams({
        response_type: "code",
        client_id: provider.clientId,
        redirect_uri: redirectUri,
        code_challenge: pkce.challenge,
        code_challenge_method: "S256",
        state: "state-1"
      }).toString()
      const redirect = yield* Effect.promise(() => fetch(authorize, { redirect: "manual" }))
      const code = new URL(redirect.headers.get("location")!).searchParams.get("code")!
      yield* TokenEndpoint.exchangeCode({ code: Redacted.make(code), redirectUri, verifier: pkce.verifier })
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const [request] = (yield* server.requests).filter((r) => r.endpoint === "token")
      compare(fixture, request!)
      assert.deepStrictEqual(Object.fromEntries(request!.fields), {
        grant_type: "authorization_code",
        client_id: provider.clientId,
        code,
        redirect_uri: redirectUri,
        code_verifier: Redacted.value(pkce.verifier)
      })
    }).pipe(Effect.provide(harness()), Effect.provide(SecureRandom.layer)))

  it.effect("revoke: JSON {token, token_type_hint, client_id}", () =>
    Effect.gen(function*() {
      const fixture = codexFixture<Fixture>("revoke-request.json")
      const signedIn = yield* signIn()
      yield* TokenEndpoint.revoke({ token: Option.getOrThrow(signedIn.refreshToken), hint: "refresh_token" })
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const [request] = (yield* server.requests).filter((r) => r.endpoint === "revoke")
      compare(fixture, request!)
      assert.strictEqual(Object.fromEntries(request!.fields).token_type_hint, "refresh_token")
    }).pipe(Effect.provide(harness())))
})
