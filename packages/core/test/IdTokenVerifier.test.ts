/**
 * Id token verification against the fake issuer's JWKS over loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Encoding, Layer, Option, Redacted, TestClock } from "effect"
import * as jose from "jose"
import { AUTH_NAMESPACE } from "../src/Claims.js"
import * as IdTokenVerifier from "../src/IdTokenVerifier.js"
import * as Provider from "../src/Provider.js"

const Live = IdTokenVerifier.layer().pipe(
  Layer.provideMerge(FakeOAuthServer.layerProvider),
  Layer.provideMerge(FakeOAuthServer.layer())
)

const claims = (accountId = "acct-1") => ({
  aud: [Provider.OPENAI_CLIENT_ID],
  sub: "auth0|user",
  email: "a@example.com",
  [AUTH_NAMESPACE]: { chatgpt_account_id: accountId, chatgpt_plan_type: "pro", chatgpt_user_id: "user-1" }
})

const verify = (idToken: string | undefined, accessToken = "opaque", options?: IdTokenVerifier.VerifyOptions) =>
  Effect.flatMap(IdTokenVerifier.IdTokenVerifier, (v) => v.verify({ idToken, accessToken }, options))

const reasonOf = (effect: Effect.Effect<unknown, IdTokenVerifier.ClaimsError, IdTokenVerifier.IdTokenVerifier>) =>
  Effect.map(Effect.flip(effect), (e) => e.reason)

describe("IdTokenVerifier", () => {
  it.effect("a token of the issuer verifies; the account comes from it", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const tokens = yield* server.issueTokens()
      const account = yield* verify(Redacted.value(Option.getOrThrow(tokens.idToken)), Redacted.value(tokens.accessToken))
      assert.isTrue(account.verified)
      assert.deepStrictEqual(account.accountId, Option.some(FakeOAuthServer.defaultAccount.accountId))
      assert.deepStrictEqual(account.email, Option.some(FakeOAuthServer.defaultAccount.email))
      assert.deepStrictEqual(account.planType, Option.some("plus"))
    }).pipe(Effect.provide(Live)))

  it.effect("bad signature, wrong issuer, wrong audience, alg none, malformed: each its reason", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      // Signed by another issuer's key.
      const other = yield* Effect.scoped(Effect.flatMap(FakeOAuthServer.make(), (s) => s.signToken(claims())))
      assert.strictEqual(yield* reasonOf(verify(other)), "InvalidSignature")
      // The right key, but a tampered payload.
      const good = yield* server.signToken(claims())
      const [h, , sig] = good.split(".")
      const tampered = `${h}.${Encoding.encodeBase64Url(JSON.stringify({ ...claims("acct-evil"), iss: server.url, exp: 9e9, iat: 0 }))}.${sig}`
      assert.strictEqual(yield* reasonOf(verify(tampered)), "InvalidSignature")
      assert.strictEqual(yield* reasonOf(verify(yield* server.signToken(claims(), { issuer: "https://evil.example" }))), "WrongIssuer")
      assert.strictEqual(yield* reasonOf(verify(yield* server.signToken({ ...claims(), aud: ["another-client"] }))), "WrongAudience")
      const none = new jose.UnsecuredJWT({ ...claims(), iss: server.url }).setIssuedAt(0).setExpirationTime(9e9).encode()
      assert.strictEqual(yield* reasonOf(verify(none)), "UnsupportedAlgorithm")
      assert.strictEqual(yield* reasonOf(verify("not-a-jwt")), "Malformed")
      assert.strictEqual(yield* reasonOf(verify(undefined)), "MissingIdToken")
    }).pipe(Effect.provide(Live)))

  it.effect("expiry is checked with a 30 s tolerance; allowExpired checks the token as of its expiry", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const token = yield* server.signToken(claims(), { lifetime: "1 hour" })
      yield* TestClock.adjust("1 hour")
      assert.isTrue((yield* verify(token)).verified, "within the tolerance")
      yield* TestClock.adjust("31 seconds")
      assert.strictEqual(yield* reasonOf(verify(token)), "Expired")
      assert.isTrue((yield* verify(token, "opaque", { allowExpired: true })).verified)
    }).pipe(Effect.provide(Live)))

  it.effect("the access token must name the same account", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const id = yield* server.signToken(claims("acct-1"))
      const access = yield* server.signToken(claims("acct-2"))
      assert.strictEqual(yield* reasonOf(verify(id, access)), "AccountMismatch")
      assert.isTrue((yield* verify(id, yield* server.signToken(claims("acct-1")))).verified)
    }).pipe(Effect.provide(Live)))

  it.effect("without an id token, optional: the access token's claims, unverified", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const account = yield* verify(undefined, yield* server.signToken(claims("acct-9")), { idTokenOptional: true })
      assert.isFalse(account.verified)
      assert.deepStrictEqual(account.accountId, Option.some("acct-9"))
    }).pipe(Effect.provide(Live)))

  it.effect("an unreachable JWKS is JwksUnavailable", () =>
    Effect.gen(function*() {
      const token = yield* Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (s) => s.signToken(claims()))
      const gone = yield* Effect.scoped(Effect.map(FakeOAuthServer.make(), (s) => s.provider))
      const reason = yield* reasonOf(verify(token)).pipe(
        Effect.provide(IdTokenVerifier.layer().pipe(Layer.provide(Layer.succeed(Provider.Provider, gone))))
      )
      assert.strictEqual(reason, "JwksUnavailable")
    }).pipe(Effect.provide(FakeOAuthServer.layer())))

  it.effect("layerWithoutVerification reads claims and says they are unverified", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const account = yield* verify(yield* server.signToken(claims("acct-3"))).pipe(
        Effect.provide(IdTokenVerifier.layerWithoutVerification)
      )
      assert.isFalse(account.verified)
      assert.deepStrictEqual(account.accountId, Option.some("acct-3"))
    }).pipe(Effect.provide(FakeOAuthServer.layer())))
})
