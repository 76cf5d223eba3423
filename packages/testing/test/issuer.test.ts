/**
 * The fake issuer's state machine on its own, without HTTP: what
 * FakeOAuthServer answers is decided here.
 */
import { assert, describe, it } from "@effect/vitest"
import { Pkce, Provider, SecureRandom } from "@subauth/core"
import { Duration, Effect, Option, Redacted, TestClock } from "effect"
import * as FakeOAuthServer from "../src/FakeOAuthServer.js"
import * as Issuer from "../src/internal/issuer.js"

const URL_ = "http://127.0.0.1:1"
const CLIENT_ID = Provider.OPENAI_CLIENT_ID
const REDIRECT = "http://127.0.0.1:1455/auth/callback"

const defaults: FakeOAuthServer.Settings = {
  account: FakeOAuthServer.defaultAccount,
  accessTokenLifetime: Duration.hours(1),
  idTokenLifetime: Duration.hours(1),
  refreshTokenLifetime: Option.none(),
  opaqueAccessTokens: false,
  authorize: "auto-approve",
  deviceEnabled: true,
  devicePendingPolls: 1,
  deviceInterval: "1",
  deviceCodeLifetime: Duration.minutes(15),
  apiKeyExchange: "succeed",
  reuse: "reject"
}

const makeIssuer = (patch: Partial<FakeOAuthServer.Settings> = {}) => {
  const settings = { ...defaults, ...patch }
  return Issuer.make({ url: URL_, clientId: CLIENT_ID, deviceCallback: `${URL_}/deviceauth/callback`, settings: () => settings })
}

const fields = (record: Record<string, string>) => (name: string) => record[name]

const refresh = (issuer: Issuer.Issuer, token: string) =>
  issuer.token(fields({ grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: token }))

const codeOf = (answer: Issuer.Answer) => (answer.body as { error?: { code?: string } }).error?.code

describe("fake issuer", () => {
  it.effect("refresh rotates the refresh token; the old one is then reused, and the grant survives (reuse: reject)", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer()
      const first = yield* issuer.issueTokens(FakeOAuthServer.defaultAccount)
      const rotated = yield* refresh(issuer, first.refresh_token)
      assert.strictEqual(rotated.status, 200)
      const next = rotated.body as Issuer.TokenBody
      assert.notStrictEqual(next.refresh_token, first.refresh_token)
      assert.isTrue(Option.isSome(yield* issuer.verifyAccessToken(next.access_token)))

      const reused = yield* refresh(issuer, first.refresh_token)
      assert.strictEqual(reused.status, 401)
      assert.strictEqual(codeOf(reused), "refresh_token_reused")
      assert.strictEqual((yield* refresh(issuer, next.refresh_token)).status, 200)
    }))

  it.effect("reuse: revoke-grant ends the whole grant, its access tokens included", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer({ reuse: "revoke-grant" })
      const first = yield* issuer.issueTokens(FakeOAuthServer.defaultAccount)
      const next = (yield* refresh(issuer, first.refresh_token)).body as Issuer.TokenBody
      assert.strictEqual(codeOf(yield* refresh(issuer, first.refresh_token)), "refresh_token_reused")
      assert.strictEqual(codeOf(yield* refresh(issuer, next.refresh_token)), "refresh_token_invalidated")
      assert.isTrue(Option.isNone(yield* issuer.verifyAccessToken(next.access_token)))
    }))

  it.effect("refresh tokens expire when the settings say so, and unknown ones are refused", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer({ refreshTokenLifetime: Option.some(Duration.minutes(5)) })
      const first = yield* issuer.issueTokens(FakeOAuthServer.defaultAccount)
      yield* TestClock.adjust(Duration.minutes(5))
      assert.strictEqual(codeOf(yield* refresh(issuer, first.refresh_token)), "refresh_token_expired")
      assert.strictEqual(codeOf(yield* refresh(issuer, "rt_nobody")), "token_expired")
      const missingClient = yield* issuer.token(fields({ grant_type: "refresh_token", refresh_token: first.refresh_token }))
      assert.strictEqual(missingClient.status, 400)
    }))

  it.effect("an authorization code is exchanged once, for its redirect, with the verifier of its challenge", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer()
      const pkce = yield* Pkce.make
      const query = new URLSearchParams({
        response_type: "code",
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT,
        code_challenge: pkce.challenge,
        code_challenge_method: "S256",
        state: "st"
      })
      const outcome = yield* issuer.authorize(query)
      assert.strictEqual(outcome._tag, "Redirect")
      const redirect = outcome._tag === "Redirect" ? outcome.url : new URL(REDIRECT)
      assert.strictEqual(redirect.searchParams.get("state"), "st")
      const code = redirect.searchParams.get("code") ?? ""
      const exchange = (verifier: string, redirectUri = REDIRECT) =>
        issuer.token(fields({ grant_type: "authorization_code", client_id: CLIENT_ID, code, redirect_uri: redirectUri, code_verifier: verifier }))
      assert.strictEqual((yield* exchange("wrong-verifier-wrong-verifier-wrong-verifier")).status, 400)
      assert.strictEqual((yield* exchange(Redacted.value(pkce.verifier), "http://127.0.0.1:9/other")).status, 400)
      assert.strictEqual((yield* exchange(Redacted.value(pkce.verifier))).status, 200)
      assert.strictEqual((yield* exchange(Redacted.value(pkce.verifier))).status, 400)

      const invalid = yield* issuer.authorize(new URLSearchParams({ response_type: "token", client_id: CLIENT_ID }))
      assert.isTrue(invalid._tag === "Invalid" && invalid.problems.includes("response_type must be code"))
    }).pipe(Effect.provide(SecureRandom.layer)))

  it.effect("manual authorization waits for a decision; deny redirects with access_denied", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer({ authorize: "manual" })
      const query = new URLSearchParams({
        response_type: "code",
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT,
        code_challenge: "x".repeat(43),
        code_challenge_method: "S256",
        state: "st"
      })
      const held = yield* issuer.authorize(query)
      assert.strictEqual(held._tag, "Held")
      const id = held._tag === "Held" ? held.id : ""
      const denied = yield* issuer.decide(id, false)
      assert.isTrue(Option.isSome(denied) && denied.value.searchParams.get("error") === "access_denied")
      assert.isTrue(Option.isNone(yield* issuer.decide(id, true)))
    }))

  it.effect("device codes: pending polls (403), then the code and PKCE pair the server made", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer({ devicePendingPolls: 1 })
      const started = yield* issuer.deviceUserCode({ client_id: CLIENT_ID })
      assert.strictEqual(started.status, 200)
      const { device_auth_id, user_code } = started.body as { device_auth_id: string; user_code: string }
      const poll = () => issuer.deviceToken({ device_auth_id, user_code })
      assert.strictEqual((yield* poll()).status, 403)
      const approved = yield* poll()
      assert.strictEqual(approved.status, 200)
      const answer = approved.body as { authorization_code: string; code_verifier: string }
      const exchanged = yield* issuer.token(fields({
        grant_type: "authorization_code",
        client_id: CLIENT_ID,
        code: answer.authorization_code,
        redirect_uri: `${URL_}/deviceauth/callback`,
        code_verifier: answer.code_verifier
      }))
      assert.strictEqual(exchanged.status, 200)
      assert.strictEqual((yield* issuer.deviceToken({ device_auth_id, user_code: "FAKE-OTHER" })).status, 400)
      const disabled = yield* makeIssuer({ deviceEnabled: false })
      assert.strictEqual((yield* disabled.deviceUserCode({ client_id: CLIENT_ID })).status, 404)
    }))

  it.effect("revoking a refresh token or an access token ends the grant", () =>
    Effect.gen(function*() {
      const issuer = yield* makeIssuer()
      const byRefresh = yield* issuer.issueTokens(FakeOAuthServer.defaultAccount)
      yield* issuer.revoke(byRefresh.refresh_token)
      assert.isTrue(Option.isNone(yield* issuer.verifyAccessToken(byRefresh.access_token)))
      const byAccess = yield* issuer.issueTokens(FakeOAuthServer.defaultAccount)
      yield* issuer.revoke(byAccess.access_token)
      assert.strictEqual(codeOf(yield* refresh(issuer, byAccess.refresh_token)), "refresh_token_invalidated")
    }))
})
