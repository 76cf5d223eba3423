/**
 * Verifies the id token of a sign-in against the issuer's JWKS
 * (`/.well-known/jwks.json`, fetched once and cached): signature, issuer,
 * audience (the client id) and expiry with a small tolerance. The account id,
 * plan, email and user id are then taken from the verified claims, and the
 * access token, when it is a JWT, must name the same account.
 *
 * Only OpenHands checks this signature among the reference clients, and it
 * skips issuer and audience; codex-rs and the opencode plugins only decode.
 * Turning verification off takes a layer with a name that says so.
 *
 * @see protocol.md §4.1
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as jose from "jose"
import * as Claims from "./Claims.js"
import { reveal } from "./internal/secret.js"
import { MAX_ISSUER_RESPONSE_BYTES } from "./Limits.js"
import { Provider } from "./Provider.js"
import type { Secret } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class ClaimsError extends Schema.TaggedError<ClaimsError>("@subauth/core/ClaimsError")("ClaimsError", {
  reason: Schema.Literal(
    "MissingIdToken",
    "Malformed",
    "UnsupportedAlgorithm",
    "InvalidSignature",
    "WrongIssuer",
    "WrongAudience",
    "Expired",
    "AccountMismatch",
    "JwksUnavailable"
  ),
  description: Schema.String
}) {
  override get message(): string {
    return `the id token could not be verified: ${this.description}`
  }
}

/**
 * The account of a sign-in, and whether it was verified.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifiedAccount extends Claims.Account {
  readonly verified: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  /**
   * Accept an id token that has expired, checking it as of just before its
   * expiry. For tokens injected from elsewhere (an old `auth.json`), whose id
   * token may be long expired while the refresh token still works.
   */
  readonly allowExpired?: boolean
  /** Without an id token, take the access token's claims, unverified. */
  readonly idTokenOptional?: boolean
}

/**
 * The tokens of a sign-in to verify: redacted, as the login flows yield them,
 * or plain.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tokens {
  readonly idToken: Secret | undefined
  readonly accessToken: Secret
}

/**
 * @since 0.1.0
 * @category tags
 */
export class IdTokenVerifier extends Context.Tag("@subauth/core/IdTokenVerifier")<IdTokenVerifier, {
  readonly verify: (
    tokens: Tokens,
    options?: VerifyOptions
  ) => Effect.Effect<VerifiedAccount, ClaimsError>
}>() {}

const fail = (reason: ClaimsError["reason"], description: string) => Effect.fail(new ClaimsError({ reason, description }))

const classify = (error: unknown): ClaimsError => {
  const make = (reason: ClaimsError["reason"], description: string) => new ClaimsError({ reason, description })
  if (error instanceof jose.errors.JWTExpired) return make("Expired", "it has expired")
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return make("WrongIssuer", "it was issued by another issuer")
    if (error.claim === "aud") return make("WrongAudience", "it was issued for another client")
    return make("Malformed", `its "${error.claim}" claim is not valid`)
  }
  if (error instanceof jose.errors.JOSEAlgNotAllowed || error instanceof jose.errors.JOSENotSupported) {
    return make("UnsupportedAlgorithm", "it is not signed with an accepted algorithm")
  }
  if (error instanceof jose.errors.JWSSignatureVerificationFailed || error instanceof jose.errors.JWKSNoMatchingKey) {
    return make("InvalidSignature", "its signature does not match the issuer's keys")
  }
  if (error instanceof jose.errors.JWKSTimeout || error instanceof jose.errors.JWKSInvalid) {
    return make("JwksUnavailable", "the issuer's keys could not be fetched; try again")
  }
  if (error instanceof jose.errors.JWSInvalid || error instanceof jose.errors.JWTInvalid) {
    return make("Malformed", "it is not a well-formed signed JWT")
  }
  // fetch itself failing (connection refused, DNS) surfaces as a TypeError from the JWKS fetch.
  if (error instanceof TypeError) return make("JwksUnavailable", "the issuer's keys could not be fetched; try again")
  return make("Malformed", "it could not be read")
}

/**
 * `fetch` for the JWKS, reading no more than {@link MAX_ISSUER_RESPONSE_BYTES}
 * of the body: a longer key set is refused (`JWKSInvalid`) and its connection
 * let go, instead of being held in memory whole.
 */
const boundedFetch: jose.FetchImplementation = async (url, init) => {
  const response = await fetch(url, init)
  const tooLarge = () => new jose.errors.JWKSInvalid(`the key set is larger than ${MAX_ISSUER_RESPONSE_BYTES} bytes`)
  if (Number(response.headers.get("content-length")) > MAX_ISSUER_RESPONSE_BYTES) {
    await response.body?.cancel()
    throw tooLarge()
  }
  if (response.body === null) return response
  const reader = response.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > MAX_ISSUER_RESPONSE_BYTES) {
      await reader.cancel()
      throw tooLarge()
    }
    chunks.push(value)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.length
  }
  return new Response(body, { status: response.status, headers: response.headers })
}

const accessAccountMatches = (account: Claims.Account, accessToken: string) =>
  Option.match(Option.flatMap(Claims.decode(accessToken), (c) => c.accountId), {
    onNone: () => true,
    onSome: (fromAccess) => Option.match(account.accountId, { onNone: () => true, onSome: (id) => id === fromAccess })
  })

/**
 * Verification against the provider's JWKS. Tokens must be RS256 (what the
 * issuer signs with), ES256 or EdDSA; `alg: none` never passes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: { readonly clockTolerance?: Duration.DurationInput } = {}
): Layer.Layer<IdTokenVerifier, never, Provider> =>
  Layer.effect(
    IdTokenVerifier,
    Effect.gen(function*() {
      const provider = yield* Provider
      const tolerance = Math.round(Duration.toSeconds(Duration.decode(options.clockTolerance ?? "30 seconds")))
      const keys = jose.createRemoteJWKSet(new URL(provider.endpoints.jwks), {
        timeoutDuration: 10_000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
        [jose.customFetch]: boundedFetch
      })
      const verify = Effect.fn("IdTokenVerifier.verify")(function*(tokens: Tokens, verifyOptions: VerifyOptions = {}) {
        // jose and the claims need the values: this is where the tokens are read.
        const idToken = tokens.idToken === undefined ? undefined : reveal(tokens.idToken)
        const accessToken = reveal(tokens.accessToken)
        if (idToken === undefined) {
          return verifyOptions.idTokenOptional === true
            ? { ...Claims.account({ idToken: Option.none(), accessToken }), verified: false }
            : yield* fail("MissingIdToken", "the token answer has no id token")
        }
        const now = yield* Clock.currentTimeMillis
        const exp = Option.flatMap(Claims.decode(idToken), (c) => c.exp)
        // An accepted expired token is checked as of one second before it expired.
        const at = verifyOptions.allowExpired === true && Option.isSome(exp)
          ? Math.min(now, exp.value * 1000 - 1000)
          : now
        yield* Effect.tryPromise({
          try: () =>
            jose.jwtVerify(idToken, keys, {
              issuer: provider.issuer,
              audience: provider.clientId,
              algorithms: ["RS256", "ES256", "EdDSA"],
              clockTolerance: tolerance,
              currentDate: new Date(at),
              requiredClaims: ["exp", "iat"]
            }),
          catch: classify
        })
        // The id token is now trusted; Claims.account reads the account, email and user from it first.
        const account = Claims.account({ idToken: Option.some(idToken), accessToken })
        if (!accessAccountMatches(account, accessToken)) {
          return yield* fail("AccountMismatch", "the access token belongs to another account than the id token")
        }
        return { ...account, verified: true }
      })
      return { verify }
    })
  )

/**
 * Reads the claims without checking any signature. `status` reports such
 * sign-ins as unverified. For issuers without a JWKS, and nothing else.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutVerification: Layer.Layer<IdTokenVerifier> = Layer.succeed(IdTokenVerifier, {
  verify: Effect.fn("IdTokenVerifier.verify")(function*(tokens: Tokens) {
    const accessToken = reveal(tokens.accessToken)
    const idToken = tokens.idToken === undefined ? undefined : reveal(tokens.idToken)
    const account = Claims.account({ idToken: Option.fromNullable(idToken), accessToken })
    if (!accessAccountMatches(account, accessToken)) {
      return yield* fail("AccountMismatch", "the access token belongs to another account than the id token")
    }
    return { ...account, verified: false }
  })
})
