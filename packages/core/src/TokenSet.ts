/**
 * The tokens of one signed-in account, the wire shape the token endpoint
 * answers with, and the one transform between them.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Equivalence from "effect/Equivalence"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Claims from "./Claims.js"
import { redact } from "./internal/secret.js"

const OptionalRedacted = Schema.optionalWith(Schema.Redacted(Schema.String), { as: "Option", exact: true })
const OptionalString = Schema.optionalWith(Schema.String, { as: "Option", exact: true })

/**
 * A signed-in account's tokens. Tokens are `Redacted`: printing, logging or
 * JSON-encoding a `TokenSet` for display never shows them; only a store's
 * serialisation (`Schema.encode(TokenSet)`) and the wire read them.
 *
 * `expiresAt` is when the access token stops working; `accountId`, `planType`,
 * `email` and `userId` come from the tokens' claims (verified at sign-in when
 * `claimsVerified`).
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@subauth/core/TokenSet")({
  accessToken: Schema.Redacted(Schema.String),
  refreshToken: OptionalRedacted,
  idToken: OptionalRedacted,
  expiresAt: Schema.DateTimeUtc,
  obtainedAt: Schema.DateTimeUtc,
  accountId: OptionalString,
  planType: OptionalString,
  email: OptionalString,
  userId: OptionalString,
  /**
   * Whether the account fields come from an id token whose signature, issuer
   * and audience were checked against the issuer's JWKS at sign-in.
   */
  claimsVerified: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true })
}) {}

/**
 * A token endpoint success body, in the provider's snake_case. Only
 * `access_token` is required: refresh answers may omit the others (protocol.md
 * §3.1), and then the previous values are kept.
 *
 * Tokens are redacted as they are decoded: from the token endpoint on, no
 * token travels as a plain string (the encoded side is the wire's JSON).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.Redacted(Schema.NonEmptyString),
  refresh_token: Schema.optional(Schema.Redacted(Schema.NonEmptyString)),
  id_token: Schema.optional(Schema.Redacted(Schema.NonEmptyString)),
  // Lenient: some servers send the lifetime as a numeric string.
  expires_in: Schema.optional(Schema.Union(Schema.NonNegative, Schema.NumberFromString.pipe(Schema.nonNegative()))),
  token_type: Schema.optional(Schema.String),
  scope: Schema.optional(Schema.String)
})

/**
 * A decoded token response: tokens `Redacted`.
 *
 * @since 0.1.0
 * @category schemas
 */
export type TokenResponse = typeof TokenResponse.Type

/**
 * A token, redacted or not.
 *
 * @since 0.1.0
 * @category models
 */
export type Secret = string | Redacted.Redacted<string>

/**
 * What {@link fromResponse} takes: a decoded {@link TokenResponse}, or the same
 * fields with plain strings, for tokens that were held elsewhere (they are
 * redacted on the way in).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenResponseInput {
  readonly access_token: Secret
  readonly refresh_token?: Secret | undefined
  readonly id_token?: Secret | undefined
  readonly expires_in?: number | undefined
}

/**
 * The lifetime assumed when the access token is not a JWT with `exp` and the
 * answer has no `expires_in` (OpenHands and opencode assume the same).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LIFETIME: Duration.Duration = Duration.hours(1)

/**
 * When an access token expires: its JWT `exp` if it has one (what the backend
 * checks), else `obtainedAt + expires_in`, else `obtainedAt + DEFAULT_LIFETIME`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const expiryOf = (
  accessToken: string,
  obtainedAt: DateTime.Utc,
  expiresIn: number | undefined
): DateTime.Utc => {
  const exp = Option.flatMap(Claims.decode(accessToken), (c) => c.exp)
  if (Option.isSome(exp)) return DateTime.unsafeMake(exp.value * 1000)
  return DateTime.addDuration(
    obtainedAt,
    expiresIn !== undefined ? Duration.seconds(expiresIn) : DEFAULT_LIFETIME
  )
}

/**
 * The domain model of a token endpoint answer received at `now`.
 *
 * For a refresh, pass the tokens that were refreshed as `previous`: a refresh or
 * id token the answer leaves out is kept, and the account id, email and user id
 * stay those of the sign-in (a refresh token belongs to one account; codex-rs
 * does not recompute them either), filled in from the new tokens only where
 * missing. The plan follows the new access token.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (response: TokenResponseInput, now: DateTime.Utc, previous?: TokenSet): TokenSet => {
  const accessToken = redact(response.access_token)
  const idToken = Option.map(Option.fromNullable(response.id_token), redact)
  // Claims are read from the tokens' values; the values themselves go on redacted.
  const claims = Claims.account({ idToken: Option.map(idToken, Redacted.value), accessToken: Redacted.value(accessToken) })
  const keep = <A>(prev: Option.Option<A> | undefined, next: Option.Option<A>) =>
    prev === undefined ? next : Option.orElse(prev, () => next)
  return new TokenSet({
    accessToken,
    refreshToken: Option.orElse(
      Option.map(Option.fromNullable(response.refresh_token), redact),
      () => previous?.refreshToken ?? Option.none()
    ),
    idToken: Option.orElse(idToken, () => previous?.idToken ?? Option.none()),
    expiresAt: expiryOf(Redacted.value(accessToken), now, response.expires_in),
    obtainedAt: now,
    accountId: keep(previous?.accountId, claims.accountId),
    // The plan can change (an upgrade): it follows the newest access token.
    planType: Option.orElse(claims.planType, () => previous?.planType ?? Option.none()),
    email: keep(previous?.email, claims.email),
    userId: keep(previous?.userId, claims.userId),
    claimsVerified: previous?.claimsVerified ?? false
  })
}

/**
 * Builds a `TokenSet` from tokens held elsewhere (injected credentials),
 * reading expiry and account from their claims.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokens = (tokens: {
  readonly accessToken: Secret
  readonly refreshToken?: Secret | undefined
  readonly idToken?: Secret | undefined
  readonly expiresIn?: number | undefined
  readonly obtainedAt: DateTime.Utc
}): TokenSet =>
  fromResponse(
    {
      access_token: tokens.accessToken,
      ...(tokens.refreshToken !== undefined ? { refresh_token: tokens.refreshToken } : {}),
      ...(tokens.idToken !== undefined ? { id_token: tokens.idToken } : {}),
      ...(tokens.expiresIn !== undefined ? { expires_in: tokens.expiresIn } : {})
    },
    tokens.obtainedAt
  )

const sameToken = Redacted.getEquivalence(Equivalence.string)
const sameOptionalToken = Option.getEquivalence(sameToken)

/**
 * Whether two token sets hold the same refresh token (or both none): the
 * identity of a login generation, which changes on every rotation.
 *
 * @since 0.1.0
 * @category predicates
 */
export const sameRefreshToken = (a: TokenSet, b: TokenSet): boolean => sameOptionalToken(a.refreshToken, b.refreshToken)

/**
 * Whether `tokens` hold `accessToken`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasAccessToken = (tokens: TokenSet, accessToken: Redacted.Redacted<string>): boolean =>
  sameToken(tokens.accessToken, accessToken)
