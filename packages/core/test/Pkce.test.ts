import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Pkce from "../src/Pkce.js"
import * as SecureRandom from "../src/SecureRandom.js"
import { codexFixture } from "./fixtures.js"

describe("Pkce", () => {
  it.effect("matches the RFC 7636 Appendix B example", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* Pkce.challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
      )
    }))

  it.effect("matches the pair OpenAI's device flow returned (fixture)", () =>
    Effect.gen(function*() {
      const { code_challenge, code_verifier } = codexFixture("device-token-approved.json").response.body
      assert.strictEqual(yield* Pkce.challengeOf(code_verifier), code_challenge)
      assert.isTrue(yield* Pkce.verify(code_verifier, code_challenge))
    }))

  it.effect("makes a 64-byte base64url verifier (86 chars, no padding) and its S256 challenge", () =>
    Effect.gen(function*() {
      const pkce = yield* Pkce.make
      const verifier = Redacted.value(pkce.verifier)
      assert.match(verifier, /^[A-Za-z0-9_-]{86}$/)
      assert.match(pkce.challenge, /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(pkce.method, "S256")
      assert.strictEqual(yield* Pkce.challengeOf(verifier), pkce.challenge)
      assert.notInclude(String(pkce.verifier), verifier)
    }).pipe(Effect.provide(SecureRandom.layer)))

  it.effect("verify refuses a wrong or malformed verifier", () =>
    Effect.gen(function*() {
      const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
      assert.isFalse(yield* Pkce.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", challenge))
      assert.isFalse(yield* Pkce.verify("short", challenge))
      assert.isFalse(yield* Pkce.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk!", challenge))
    }))
})

describe("SecureRandom", () => {
  it.effect("gives distinct values from the crypto generator, any length", () =>
    Effect.gen(function*() {
      const a = yield* SecureRandom.base64Url(32)
      const b = yield* SecureRandom.base64Url(32)
      assert.strictEqual(a.length, 43)
      assert.notStrictEqual(a, b)
      assert.strictEqual((yield* SecureRandom.bytes(200_000)).length, 200_000)
    }).pipe(Effect.provide(SecureRandom.layer)))

  it.effect("layerTest is deterministic per seed", () =>
    Effect.gen(function*() {
      const run = (seed: number) => Effect.provide(SecureRandom.base64Url(16), SecureRandom.layerTest(seed))
      assert.strictEqual(yield* run(7), yield* run(7))
      assert.notStrictEqual(yield* run(7), yield* run(8))
    }))
})
