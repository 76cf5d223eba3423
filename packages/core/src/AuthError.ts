/**
 * The errors of talking to an OAuth provider: the login is dead
 * ({@link ReauthRequired}), the token endpoint said no ({@link TokenEndpointError}),
 * or the network or server failed for now ({@link TransportError}).
 *
 * None of them ever holds a token: descriptions coming from a server are
 * scrubbed of the secrets that were sent, and raw responses are not kept.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The stored login can no longer be used and the user must sign in again.
 *
 * - `NotSignedIn`: there are no tokens for the profile.
 * - `RefreshTokenReused` / `RefreshTokenExpired` / `RefreshTokenInvalidated`:
 *   the provider's permanent refresh failures (protocol.md §3.2).
 * - `RefreshRejected`: any other 401 from the token endpoint.
 * - `NoRefreshToken`: the access token expired and there is no refresh token
 *   (tokens injected without one).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthRequired extends Schema.TaggedError<ReauthRequired>("@subauth/core/ReauthRequired")(
  "ReauthRequired",
  {
    reason: Schema.Literal(
      "NotSignedIn",
      "RefreshTokenReused",
      "RefreshTokenExpired",
      "RefreshTokenInvalidated",
      "RefreshRejected",
      "NoRefreshToken"
    ),
    profile: Schema.String,
    status: Schema.optional(Schema.Number),
    code: Schema.optional(Schema.String),
    description: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const what = reauthText[this.reason]
    const login = this.profile === "default" ? `"subauth login"` : `"subauth login --profile ${this.profile}"`
    return `${what}; run ${login} to sign in again`
  }
}

const reauthText: Record<ReauthRequired["reason"], string> = {
  NotSignedIn: "not signed in",
  RefreshTokenReused: "the refresh token was already used",
  RefreshTokenExpired: "the refresh token has expired",
  RefreshTokenInvalidated: "the refresh token was revoked",
  RefreshRejected: "the sign-in was rejected when refreshing the access token",
  NoRefreshToken: "the access token has expired and there is no refresh token to renew it"
}

/**
 * The token endpoint answered, but not with tokens, and trying again will not help.
 *
 * - `ErrorResponse`: an OAuth or OpenAI error body (`code` and `description`
 *   lifted from `error`/`error_description` or `error.code`/`error.message`).
 * - `InvalidResponse`: a success status with a body that is not the expected
 *   JSON. Not retried: the provider may already have rotated the refresh token.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenEndpointError extends Schema.TaggedError<TokenEndpointError>("@subauth/core/TokenEndpointError")(
  "TokenEndpointError",
  {
    reason: Schema.Literal("ErrorResponse", "InvalidResponse"),
    endpoint: Schema.String,
    status: Schema.Number,
    code: Schema.optional(Schema.String),
    description: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const detail = [this.code && `"${this.code}"`, this.description].filter(Boolean).join(": ")
    return this.reason === "InvalidResponse"
      ? `the ${this.endpoint} endpoint answered ${this.status} with an unexpected body${detail ? ` (${detail})` : ""}`
      : `the ${this.endpoint} endpoint answered ${this.status}${detail ? `: ${detail}` : ""}`
  }
}

/**
 * A failure that may pass: timeouts, refused or reset connections, 5xx, 429.
 * Retried with backoff where it is safe; this error is what remains after the
 * last attempt.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@subauth/core/TransportError")(
  "TransportError",
  {
    reason: Schema.Literal("Timeout", "ConnectionFailed", "ServerError", "RateLimited"),
    endpoint: Schema.String,
    status: Schema.optional(Schema.Number),
    description: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const head = {
      Timeout: `the ${this.endpoint} endpoint did not answer in time`,
      ConnectionFailed: `could not reach the ${this.endpoint} endpoint`,
      ServerError: `the ${this.endpoint} endpoint failed with status ${this.status ?? "5xx"}`,
      RateLimited: `the ${this.endpoint} endpoint is rate limiting requests (status ${this.status ?? 429})`
    }[this.reason]
    return `${head}${this.description ? ` (${this.description})` : ""}; try again later`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type AuthError = ReauthRequired | TokenEndpointError | TransportError
