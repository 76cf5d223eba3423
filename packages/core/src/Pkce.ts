/**
 * Proof Key for Code Exchange with S256, as the Codex CLI makes it: 64 random
 * bytes as a base64url verifier (86 characters) and the base64url SHA-256 of
 * that verifier as the challenge.
 *
 * @see RFC 7636 §4.1, §4.2
 * @see protocol.md §1.1
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as SecureRandom from "./SecureRandom.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Pkce {
  readonly verifier: Redacted.Redacted<string>
  readonly challenge: string
  readonly method: "S256"
}

/**
 * The S256 challenge of a verifier.
 *
 * @see RFC 7636 §4.2
 * @since 0.1.0
 * @category constructors
 */
export const challengeOf = (verifier: string): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).pipe(
    Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest)))
  )

/**
 * A fresh verifier and its challenge.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Pkce, never, SecureRandom.SecureRandom> = Effect.gen(function*() {
  const verifier = yield* SecureRandom.base64Url(64)
  const challenge = yield* challengeOf(verifier)
  return { verifier: Redacted.make(verifier), challenge, method: "S256" as const }
})

const verifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/

/**
 * Whether `verifier` is a well-formed verifier whose S256 challenge is `challenge`
 * (what an authorization server checks at the token endpoint).
 *
 * @see RFC 7636 §4.6
 * @since 0.1.0
 * @category utils
 */
export const verify = (verifier: string, challenge: string): Effect.Effect<boolean> =>
  verifierPattern.test(verifier)
    ? Effect.map(challengeOf(verifier), (expected) => timingSafeEqual(expected, challenge))
    : Effect.succeed(false)

const timingSafeEqual = (a: string, b: string): boolean => {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
