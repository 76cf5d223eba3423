/**
 * Randomness for secrets (PKCE verifiers, OAuth state, nonces). Backed by
 * `crypto.getRandomValues`; never `effect/Random`, which is a seeded PRNG.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category tags
 */
export class SecureRandom extends Context.Tag("@subauth/core/SecureRandom")<SecureRandom, {
  readonly bytes: (length: number) => Effect.Effect<Uint8Array>
}>() {}

// getRandomValues refuses more than 65536 bytes per call.
const fillRandom = (out: Uint8Array): Uint8Array => {
  for (let offset = 0; offset < out.length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(out.length, offset + 65536)))
  }
  return out
}

/**
 * The Web Crypto generator (available in Node 20+, browsers, Deno, Bun, workers).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SecureRandom> = Layer.succeed(SecureRandom, {
  bytes: (length) => Effect.sync(() => fillRandom(new Uint8Array(length)))
})

/**
 * A deterministic generator for tests: the same seed gives the same bytes.
 * Not random at all; never use it outside tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (seed = 1): Layer.Layer<SecureRandom> =>
  Layer.sync(SecureRandom, () => {
    let state = (seed >>> 0) || 1
    const next = () => {
      // xorshift32
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      state >>>= 0
      return state & 0xff
    }
    return {
      bytes: (length) =>
        Effect.sync(() => {
          const out = new Uint8Array(length)
          for (let i = 0; i < length; i++) out[i] = next()
          return out
        })
    }
  })

/**
 * `length` random bytes.
 *
 * @since 0.1.0
 * @category accessors
 */
export const bytes = (length: number): Effect.Effect<Uint8Array, never, SecureRandom> =>
  Effect.flatMap(SecureRandom, (random) => random.bytes(length))

/**
 * `length` random bytes as base64url without padding (32 bytes → 43 chars).
 *
 * @since 0.1.0
 * @category accessors
 */
export const base64Url = (length: number): Effect.Effect<string, never, SecureRandom> =>
  Effect.map(bytes(length), Encoding.encodeBase64Url)
