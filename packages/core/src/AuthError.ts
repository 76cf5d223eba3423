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
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * The stored login can no longer be used and the user must sign in again.
 *
 * - `NotSignedIn`: there are no tokens for the profile.
 * - `RefreshTokenReused` / `RefreshTokenExpired` / `RefreshTokenInvalidated`:
 *   the provider's permanent refresh failures (protocol.md §3.2).
 * - `RefreshRejected`: any other 401 from the token endpoint.
 * - `NoRefreshToken`: the access token expired and there is no refresh token
 *   (tokens injected without one).
 * - `RefreshAnswerLost`: the issuer answered `refresh_token_reused` to a
 *   retry whose first attempt got no answer (the connection was lost after
 *   the request was sent): the issuer had rotated the token, and the new one
 *   was lost with its answer.
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
      "NoRefreshToken",
      "RefreshAnswerLost"
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
    // "again" only where there was a sign-in before.
    return `${what}; run ${login} to sign in${this.reason === "NotSignedIn" ? "" : " again"}`
  }
}

const reauthText: Record<ReauthRequired["reason"], string> = {
  NotSignedIn: "not signed in",
  RefreshTokenReused: "the refresh token was already used",
  RefreshTokenExpired: "the refresh token has expired",
  RefreshTokenInvalidated: "the refresh token was revoked",
  RefreshRejected: "the sign-in was rejected when refreshing the access token",
  NoRefreshToken: "the access token has expired and there is no refresh token to renew it",
  RefreshAnswerLost: "the issuer renewed the sign-in, but its answer was lost on the way, and the refresh token it " +
    "replaced cannot be used again"
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
 * A failure that may pass: timeouts, refused or lost connections, 5xx, 429.
 * Retried with backoff where it is safe (see `TokenEndpoint.retryTransient`);
 * this error is what remains after the last attempt.
 *
 * - `ConnectionFailed`: the server could not be reached; nothing was sent.
 * - `AnswerLost`: the connection was lost after the request was sent, before
 *   the whole answer came: the server may have acted on it.
 * - `Timeout`: no answer in time (`status` 408: the server said so); without
 *   a status, the server may have acted on the request too.
 * - `ServerError` (5xx), `RateLimited` (429; `retryAfter` when the server
 *   said how long to wait).
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@subauth/core/TransportError")(
  "TransportError",
  {
    reason: Schema.Literal("Timeout", "ConnectionFailed", "AnswerLost", "ServerError", "RateLimited"),
    endpoint: Schema.String,
    status: Schema.optional(Schema.Number),
    description: Schema.optional(Schema.String),
    retryAfter: Schema.optional(Schema.DurationFromSelf)
  }
) {
  override get message(): string {
    const head = {
      Timeout: `the ${this.endpoint} endpoint did not answer in time`,
      ConnectionFailed: `could not reach the ${this.endpoint} endpoint`,
      AnswerLost: `the connection to the ${this.endpoint} endpoint was lost after the request was sent`,
      ServerError: `the ${this.endpoint} endpoint failed with status ${this.status ?? "5xx"}`,
      RateLimited: `the ${this.endpoint} endpoint is rate limiting requests (status ${this.status ?? 429})`
    }[this.reason]
    const when = this.retryAfter !== undefined ? `try again in ${Duration.format(this.retryAfter)}` : "try again later"
    return `${head}${this.description ? ` (${this.description})` : ""}; ${when}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type AuthError = ReauthRequired | TokenEndpointError | TransportError
