/**
 * The requests to the provider's token endpoints: refresh, authorization code
 * exchange and revocation, each byte for byte as the Codex CLI sends them
 * (fixtures in `fixtures/codex-cli/`), and the pure functions that classify
 * their answers.
 *
 * Retrying is left to the caller (see {@link retryTransient}): whether a
 * request may be repeated depends on what it spends.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { ReauthRequired, TokenEndpointError, TransportError } from "./AuthError.js"
import { USER_AGENT as SUBAUTH_USER_AGENT } from "./internal/version.js"
import { formatBytes, jsonPost, type RawResponse, send } from "./internal/http.js"
import { scrub } from "./internal/text.js"
import { MAX_ISSUER_RESPONSE_BYTES } from "./Limits.js"
import { type Info as ProviderInfo, Provider } from "./Provider.js"
import { TokenResponse } from "./TokenSet.js"

/**
 * Why a refresh is made; sent as `refresh_reason` (protocol.md §9).
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshReason = "proactive_expiry" | "scheduled" | "unauthorized_recovery"

/**
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** Limit for one request, answer included. Default 30 seconds. */
  readonly timeout?: Duration.DurationInput
  /** Default `subauth/<version>`. */
  readonly userAgent?: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.seconds(30)

/**
 * @since 0.1.0
 * @category constants
 */
export const USER_AGENT = SUBAUTH_USER_AGENT

/**
 * The error code of an error body, lower-cased, looked up where OpenAI and
 * OAuth put it: `error.code` (object), `error` (string), then `code`.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorCodeOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const { error, code } = body as { error?: unknown; code?: unknown }
  const found = typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
    ? (error as { code: string }).code
    : typeof error === "string"
    ? error
    : typeof code === "string"
    ? code
    : undefined
  return found?.toLowerCase()
}

/**
 * The human text of an error body: `error_description`, `error.message`, or `message`.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorDescriptionOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const { error, error_description, message } = body as Record<string, unknown>
  if (typeof error_description === "string") return error_description
  if (typeof error === "object" && error !== null) {
    const m = (error as { message?: unknown }).message
    if (typeof m === "string") return m
  }
  return typeof message === "string" ? message : undefined
}

const permanentRefreshCodes: Record<string, ReauthRequired["reason"]> = {
  refresh_token_reused: "RefreshTokenReused",
  refresh_token_expired: "RefreshTokenExpired",
  refresh_token_invalidated: "RefreshTokenInvalidated"
}

// What is said of a body that was not read: it was larger than the limit.
const notRead = (response: RawResponse) =>
  response.tooLarge === true ? `its body, larger than ${formatBytes(MAX_ISSUER_RESPONSE_BYTES)}, was not read` : undefined

/**
 * The wait a `retry-after` header asks for (RFC 9110 §10.2.3): seconds, or an
 * HTTP date (then relative to `now`, epoch ms, when given). Capped at a day.
 *
 * @since 0.1.0
 * @category utils
 */
export const retryAfterOf = (
  headers: Readonly<Record<string, string | undefined>>,
  now?: number
): Duration.Duration | undefined => {
  const value = headers["retry-after"]?.trim()
  if (value === undefined || value === "") return undefined
  const day = 24 * 60 * 60 * 1000
  if (/^\d+$/.test(value)) return Duration.millis(Math.min(day, Number(value) * 1000))
  const date = Date.parse(value)
  if (now === undefined || Number.isNaN(date)) return undefined
  return Duration.millis(Math.min(day, Math.max(0, date - now)))
}

const transientOrError = (
  endpoint: string,
  response: RawResponse,
  secrets: ReadonlyArray<string>,
  now?: number
): TokenEndpointError | TransportError => {
  const code = errorCodeOf(response.json)
  const rawDescription = errorDescriptionOf(response.json)
  const description = rawDescription === undefined ? notRead(response) : scrub(rawDescription, secrets)
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    const retryAfter = response.status === 429 || response.status === 503 ? retryAfterOf(response.headers, now) : undefined
    return new TransportError({
      reason: response.status === 429 ? "RateLimited" : response.status === 408 ? "Timeout" : "ServerError",
      endpoint,
      status: response.status,
      ...(description !== undefined ? { description } : {}),
      ...(retryAfter !== undefined ? { retryAfter } : {})
    })
  }
  return new TokenEndpointError({
    reason: "ErrorResponse",
    endpoint,
    status: response.status,
    ...(code !== undefined ? { code: scrub(code, secrets, 80) } : {}),
    ...(description !== undefined ? { description } : {})
  })
}

/**
 * Classifies a failed answer from a refresh: a known permanent code or any 401
 * means the login is dead ({@link ReauthRequired}, never retried); 5xx, 408 and
 * 429 are transient; anything else is a {@link TokenEndpointError}.
 *
 * @see protocol.md §3.2
 * @since 0.1.0
 * @category utils
 */
export const classifyRefreshFailure = (
  response: RawResponse,
  context: {
    readonly profile: string
    readonly secrets: ReadonlyArray<string>
    /** Epoch ms, to read a `retry-after` given as a date. */
    readonly now?: number
  }
): ReauthRequired | TokenEndpointError | TransportError => {
  const code = errorCodeOf(response.json)
  const known = code !== undefined ? permanentRefreshCodes[code] : undefined
  if (known !== undefined || response.status === 401) {
    const description = errorDescriptionOf(response.json) ?? notRead(response)
    return new ReauthRequired({
      reason: known ?? "RefreshRejected",
      profile: context.profile,
      status: response.status,
      ...(code !== undefined ? { code: scrub(code, context.secrets, 80) } : {}),
      ...(description !== undefined ? { description: scrub(description, context.secrets) } : {})
    })
  }
  return transientOrError("token", response, context.secrets, context.now)
}

/**
 * Decodes a success body. A body that is not a token response is an
 * `InvalidResponse` naming the fields that were wrong, never their values.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeTokenResponse = (
  endpoint: string,
  response: RawResponse
): Either.Either<TokenResponse, TokenEndpointError> => {
  if (response.tooLarge === true) {
    return Either.left(
      new TokenEndpointError({
        reason: "InvalidResponse",
        endpoint,
        status: response.status,
        description: `the body is larger than ${formatBytes(MAX_ISSUER_RESPONSE_BYTES)}; it was not read`
      })
    )
  }
  if (response.json === undefined) {
    return Either.left(
      new TokenEndpointError({ reason: "InvalidResponse", endpoint, status: response.status, description: "the body is not JSON" })
    )
  }
  return Schema.decodeUnknownEither(TokenResponse)(response.json, { errors: "all" }).pipe(
    Either.mapLeft((error) => {
      // Only the paths: an issue's message quotes the offending value, which may be a token.
      const fields = [...new Set(ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => i.path.join(".")))]
        .filter((f) => f.length > 0)
      return new TokenEndpointError({
        reason: "InvalidResponse",
        endpoint,
        status: response.status,
        description: fields.length > 0 ? `unexpected or missing ${fields.map((f) => `"${f}"`).join(", ")}` : "not a token response"
      })
    })
  )
}

// A JSON POST with the Codex CLI's default headers, in its order.
const jsonRequest = (provider: ProviderInfo, url: string, body: unknown, options: RequestOptions) =>
  jsonPost(url, body, { originator: provider.originator, "user-agent": options.userAgent ?? USER_AGENT })

/**
 * Exchanges a refresh token for new tokens: `POST {token}` with the JSON body
 * `{client_id, grant_type, refresh_reason, refresh_token}` and the `originator`
 * and `user-agent` headers, as Codex CLI 0.169 does.
 *
 * @see protocol.md §3.1, §9 (fixture `refresh-request.json`)
 * @since 0.1.0
 * @category utils
 */
export const refresh = Effect.fn("TokenEndpoint.refresh")(
  function*(
    params: {
      readonly refreshToken: Redacted.Redacted<string>
      readonly reason: RefreshReason
      readonly profile: string
    },
    options: RequestOptions = {}
  ): Effect.fn.Return<TokenResponse, ReauthRequired | TokenEndpointError | TransportError, Provider | HttpClient.HttpClient> {
    const provider = yield* Provider
    const secrets = [Redacted.value(params.refreshToken)]
    const request = jsonRequest(provider, provider.endpoints.token, {
      client_id: provider.clientId,
      grant_type: "refresh_token",
      refresh_reason: params.reason,
      refresh_token: Redacted.value(params.refreshToken)
    }, options)
    const response = yield* send("token", request, {
      timeout: options.timeout ?? DEFAULT_TIMEOUT,
      secrets,
      maxBytes: MAX_ISSUER_RESPONSE_BYTES
    })
    if (response.status < 200 || response.status >= 300) {
      return yield* classifyRefreshFailure(response, { profile: params.profile, secrets, now: yield* Clock.currentTimeMillis })
    }
    return yield* decodeTokenResponse("token", response)
  }
)

/**
 * Exchanges an authorization code: `POST {token}`, form-encoded
 * `grant_type, client_id, code, redirect_uri, code_verifier`, with no
 * `originator` or `user-agent` (the Codex CLI sends none here).
 *
 * @see RFC 6749 §4.1.3, RFC 7636 §4.5
 * @see protocol.md §1.5, §2 step 4, §9 (fixtures `browser-token-exchange.json`, `device-token-exchange.json`)
 * @since 0.1.0
 * @category utils
 */
export const exchangeCode = Effect.fn("TokenEndpoint.exchangeCode")(
  function*(
    params: {
      readonly code: Redacted.Redacted<string>
      readonly redirectUri: string
      readonly verifier: Redacted.Redacted<string>
    },
    options: Pick<RequestOptions, "timeout"> = {}
  ): Effect.fn.Return<TokenResponse, TokenEndpointError | TransportError, Provider | HttpClient.HttpClient> {
    const provider = yield* Provider
    const secrets = [Redacted.value(params.code), Redacted.value(params.verifier)]
    const request = HttpClientRequest.post(provider.endpoints.token).pipe(
      HttpClientRequest.setHeaders({ "content-type": "application/x-www-form-urlencoded", accept: "*/*" }),
      HttpClientRequest.bodyUrlParams([
        ["grant_type", "authorization_code"],
        ["client_id", provider.clientId],
        ["code", Redacted.value(params.code)],
        ["redirect_uri", params.redirectUri],
        ["code_verifier", Redacted.value(params.verifier)]
      ])
    )
    const response = yield* send("token", request, {
      timeout: options.timeout ?? DEFAULT_TIMEOUT,
      secrets,
      maxBytes: MAX_ISSUER_RESPONSE_BYTES
    })
    if (response.status < 200 || response.status >= 300) return yield* transientOrError("token", response, secrets)
    return yield* decodeTokenResponse("token", response)
  }
)

/**
 * Revokes a token: `POST {revoke}` with JSON `{token, token_type_hint, client_id}`
 * (`client_id` only for refresh tokens, as codex-rs does).
 *
 * @see RFC 7009 §2.1
 * @see protocol.md §3.6 (fixture `revoke-request.json`)
 * @since 0.1.0
 * @category utils
 */
export const revoke = Effect.fn("TokenEndpoint.revoke")(
  function*(
    params: { readonly token: Redacted.Redacted<string>; readonly hint: "refresh_token" | "access_token" },
    options: RequestOptions = {}
  ): Effect.fn.Return<void, TokenEndpointError | TransportError, Provider | HttpClient.HttpClient> {
    const provider = yield* Provider
    const secrets = [Redacted.value(params.token)]
    const body = params.hint === "refresh_token"
      ? { token: Redacted.value(params.token), token_type_hint: params.hint, client_id: provider.clientId }
      : { token: Redacted.value(params.token), token_type_hint: params.hint }
    const request = jsonRequest(provider, provider.endpoints.revoke, body, options)
    const response = yield* send("revoke", request, {
      timeout: options.timeout ?? Duration.seconds(10),
      secrets,
      maxBytes: MAX_ISSUER_RESPONSE_BYTES
    })
    if (response.status < 200 || response.status >= 300) return yield* transientOrError("revoke", response, secrets)
  }
)

/**
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  readonly attempts?: number
  /** The first delay; each next one doubles, with jitter. Default 200 ms. */
  readonly baseDelay?: Duration.DurationInput
  /**
   * No attempt starts later than this after the first, so the longest a
   * retried call can take is the budget and one request's timeout. A
   * `retry-after` that ends later fails at once. Default {@link DEFAULT_RETRY_BUDGET}.
   */
  readonly budget?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_RETRY_BUDGET: Duration.Duration = Duration.seconds(20)

/**
 * Whether the request that failed with `error` may have reached the server,
 * which then may have acted on it: the connection was lost after it was sent,
 * or no answer came in time.
 *
 * @since 0.1.0
 * @category predicates
 */
export const mayHaveArrived = (error: TransportError): boolean =>
  error.reason === "AnswerLost" || (error.reason === "Timeout" && error.status === undefined)

/**
 * Retries `TransportError`s; every other error passes through at once. What
 * is retried, and why:
 *
 * - Nothing was sent (`ConnectionFailed`), or the server answered that it
 *   failed (5xx, 408): with exponential backoff and jitter, at most
 *   `attempts` in all. The server did not act, so sending the same request
 *   again is safe (a refresh token it did not spend is still good).
 * - 429: after the server's `retry-after` when it ends within the budget,
 *   else with backoff; one that ends later fails at once, saying when to try
 *   again.
 * - The request may have reached the server and no answer came (`AnswerLost`,
 *   a `Timeout` without status): once, and only once per call. The server may
 *   have acted on it; the one retry learns the truth: it succeeds if the
 *   server had not, and a refresh whose token the server had spent is
 *   answered `refresh_token_reused`, which `TokenManager` reports as a dead
 *   sign-in. More retries would only repeat a request the server may already
 *   have acted on (protocol.md §3.2: refresh tokens are single-use).
 * - No attempt starts after the budget: a server that never answers costs
 *   the budget and one timeout, not `attempts` timeouts.
 *
 * @since 0.1.0
 * @category utils
 */
export const retryTransient = (options: RetryOptions = {}) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const attempts = Math.max(1, options.attempts ?? 4)
    const base = Duration.toMillis(Duration.decode(options.baseDelay ?? Duration.millis(200)))
    const budget = Duration.toMillis(Duration.decode(options.budget ?? DEFAULT_RETRY_BUDGET))
    const started = yield* Clock.currentTimeMillis
    let unanswered = 0
    for (let attempt = 1;; attempt++) {
      const result = yield* Effect.either(self)
      if (Either.isRight(result)) return result.right
      const error = result.left
      if (!(error instanceof TransportError) || attempt >= attempts) return yield* Effect.fail(error)
      if (mayHaveArrived(error) && ++unanswered > 1) return yield* Effect.fail(error)
      const elapsed = (yield* Clock.currentTimeMillis) - started
      const backoff = base * 2 ** (attempt - 1) * (0.8 + 0.4 * (yield* Random.next))
      const wait = error.retryAfter !== undefined ? Duration.toMillis(error.retryAfter) : backoff
      if (elapsed + wait > budget) return yield* Effect.fail(error)
      yield* Effect.sleep(Duration.millis(wait))
    }
  })
