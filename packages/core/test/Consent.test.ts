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
