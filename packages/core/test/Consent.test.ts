import { assert, describe, it } from "@effect/vitest"
import { Effect, Encoding } from "effect"
import * as Consent from "../src/Consent.js"

describe("Consent", () => {
  it.effect("textSha256 is the SHA-256 of the notice and the disclaimer (change both texts' hash and VERSION together)", () =>
    Effect.gen(function*() {
      const digest = yield* Effect.promise(() =>
        globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${Consent.NOTICE}\n${Consent.DISCLAIMER}`))
      )
      assert.strictEqual(yield* Consent.textSha256, Encoding.encodeBase64Url(new Uint8Array(digest)))
    }))
})

describe("the terms notice", () => {
  it("gives the addresses of OpenAI's Terms of Use and usage policies", () => {
    assert.include(Consent.NOTICE, Consent.TERMS_OF_USE_URL)
    assert.include(Consent.DISCLAIMER, Consent.TERMS_OF_USE_URL)
    assert.include(Consent.DISCLAIMER, Consent.USAGE_POLICIES_URL)
    for (const url of [Consent.TERMS_OF_USE_URL, Consent.USAGE_POLICIES_URL]) assert.match(url, /^https:\/\/openai\.com\/policies\//)
  })

  it("is paragraphs, not lines wrapped at a fixed width (a terminal wraps them to its own)", () => {
    assert.notInclude(Consent.NOTICE, "\n")
    for (const line of Consent.DISCLAIMER.split("\n")) assert.match(line, /^(Before you continue:|- \S)/, line)
  })
})
