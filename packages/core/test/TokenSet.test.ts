import { assert, describe, it } from "@effect/vitest"
import { DateTime, Either, Encoding, Option, Redacted, Schema } from "effect"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenSet from "../src/TokenSet.js"
import { codexFixture } from "./fixtures.js"

const { tokens } = codexFixture("auth-json-written-by-login.json").auth_json
const now = DateTime.unsafeMake(1_795_343_311_000)
const jwt = (payload: unknown) =>
  `${Encoding.encodeBase64Url(JSON.stringify({ alg: "none" }))}.${Encoding.encodeBase64Url(JSON.stringify(payload))}.sig`
const raw = (json: unknown) => ({ status: 200, text: JSON.stringify(json), json, headers: {} })

describe("TokenSet", () => {
  it("takes expiry from the access token's exp, and the account from the claims", () => {
    const set = TokenSet.fromResponse(
      { access_token: tokens.access_token, refresh_token: tokens.refresh_token, id_token: tokens.id_token, expires_in: 60 },
      now
    )
    assert.strictEqual(DateTime.toEpochMillis(set.expiresAt), 1795346911 * 1000)
    assert.deepStrictEqual(set.accountId, Option.some("11111111-2222-4333-8444-555555555555"))
    assert.deepStrictEqual(set.planType, Option.some("plus"))
    assert.deepStrictEqual(set.email, Option.some("fake.user@example.com"))
    assert.deepStrictEqual(set.obtainedAt, now)
  })

  it("takes expiry from expires_in when the access token is not a JWT, else assumes one hour", () => {
    const withExpiresIn = TokenSet.fromResponse({ access_token: "opaque", expires_in: 120 }, now)
    assert.strictEqual(DateTime.toEpochMillis(withExpiresIn.expiresAt) - DateTime.toEpochMillis(now), 120_000)
    const without = TokenSet.fromResponse({ access_token: "opaque" }, now)
    assert.strictEqual(DateTime.toEpochMillis(without.expiresAt) - DateTime.toEpochMillis(now), 3_600_000)
  })

  it("a refresh answer without refresh or id token keeps the previous ones and the account", () => {
    const first = TokenSet.fromResponse(
      { access_token: tokens.access_token, refresh_token: "rt-1", id_token: tokens.id_token },
      now
    )
    const later = DateTime.add(now, { hours: 1 })
    const next = TokenSet.fromResponse({ access_token: jwt({ exp: 1_800_000_000 }) }, later, first)
    assert.strictEqual(Redacted.value(Option.getOrThrow(next.refreshToken)), "rt-1")
    assert.strictEqual(Redacted.value(Option.getOrThrow(next.idToken)), tokens.id_token)
    assert.deepStrictEqual(next.accountId, first.accountId)
    assert.deepStrictEqual(next.obtainedAt, later)
    assert.isTrue(TokenSet.sameRefreshToken(first, next))
    const rotated = TokenSet.fromResponse({ access_token: "x", refresh_token: "rt-2" }, later, first)
    assert.isFalse(TokenSet.sameRefreshToken(first, rotated))
  })

  it("never shows a token when printed or JSON-encoded for display", () => {
    const set = TokenSet.fromResponse(
      { access_token: tokens.access_token, refresh_token: tokens.refresh_token, id_token: tokens.id_token },
      now
    )
    for (const shown of [String(set), JSON.stringify(set), `${set.toString()}`]) {
      for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token]) assert.notInclude(shown, secret)
    }
  })

  it("round-trips through its encoded form (what stores write)", () => {
    const set = TokenSet.fromResponse({ access_token: tokens.access_token, refresh_token: "rt" }, now)
    const encoded = Schema.encodeSync(TokenSet.TokenSet)(set)
    assert.strictEqual(encoded.accessToken, tokens.access_token)
    assert.isUndefined((encoded as { idToken?: unknown }).idToken)
    const back = Schema.decodeUnknownSync(TokenSet.TokenSet)(JSON.parse(JSON.stringify(encoded)))
    assert.deepStrictEqual(Schema.encodeSync(TokenSet.TokenSet)(back), encoded)
  })

  it("decodes the token answers of the fixtures and names bad fields without their values", () => {
    const ok = TokenEndpoint.decodeTokenResponse("token", raw({ ...codexFixture("refresh-request.json").response.body, access_token: "a" }))
    assert.isTrue(Either.isRight(ok))
    const lenient = TokenEndpoint.decodeTokenResponse("token", raw({ access_token: "a", expires_in: "3600" }))
    assert.deepStrictEqual(Either.map(lenient, (r) => r.expires_in), Either.right(3600))
    const bad = TokenEndpoint.decodeTokenResponse("token", raw({ access_token: 5, refresh_token: "rt_secret_value_123" , expires_in: -1 }))
    assert.isTrue(Either.isLeft(bad))
    if (Either.isLeft(bad)) {
      assert.strictEqual(bad.left.reason, "InvalidResponse")
      assert.include(bad.left.message, "\"access_token\"")
      assert.notInclude(bad.left.message, "rt_secret_value_123")
    }
    const notJson = TokenEndpoint.decodeTokenResponse("token", { status: 200, text: "{oops", json: undefined, headers: {} })
    assert.isTrue(Either.isLeft(notJson) && notJson.left.description === "the body is not JSON")
  })
  it("redacts the tokens as it decodes them: printing a decoded answer shows none", () => {
    const decoded = TokenEndpoint.decodeTokenResponse(
      "token",
      raw({ access_token: tokens.access_token, refresh_token: "rt_secret_value_123", id_token: tokens.id_token })
    )
    assert.isTrue(Either.isRight(decoded))
    if (Either.isRight(decoded)) {
      const response = decoded.right
      assert.isTrue(Redacted.isRedacted(response.access_token) && Redacted.isRedacted(response.refresh_token))
      const shown = `${JSON.stringify(response)} ${String(response.refresh_token)}`
      for (const secret of [tokens.access_token, "rt_secret_value_123", tokens.id_token]) assert.notInclude(shown, secret)
      // The same TokenSet as from plain strings.
      const plain = TokenSet.fromResponse({ access_token: tokens.access_token, refresh_token: "rt_secret_value_123", id_token: tokens.id_token }, now)
      assert.isTrue(TokenSet.sameRefreshToken(TokenSet.fromResponse(response, now), plain))
      assert.isTrue(TokenSet.hasAccessToken(plain, response.access_token))
    }
  })
})
