/**
 * The proxy's errors, and how every error a request can meet is answered:
 * OpenAI's error format (`{"error":{"message","type","param","code"}}`) with
 * the status an OpenAI client expects, so its SDK raises the right class
 * (`RateLimitError` for a usage limit, `AuthenticationError` for a sign-in
 * that is needed, …).
 *
 * No message here ever holds a secret: subauth's errors are built without
 * tokens, and the proxy's own never quote the API key.
 *
 * @since 0.1.0
 */
import { AuthError, BackendError, TokenStore } from "@subauth/core"
import { DateTime, Duration, Match, Schema } from "effect"

/**
 * A request the proxy will not serve.
 *
 * - `InvalidBody`: the body is not JSON, or not what the endpoint takes
 *   (`param` says where).
 * - `Unsupported`: valid for OpenAI, but the subscription backend cannot do it
 *   (`n > 1`, audio, `previous_response_id`, non-function tools, …).
 * - `InvalidApiKey`: no `Authorization: Bearer <key>`, or not the proxy's key.
 * - `NotFound`: no such endpoint.
 * - `UnknownModel`: no such model in the subscription's catalog.
 * - `UnresolvedReference`: an `item_reference`, a reasoning item without
 *   `encrypted_content`, or a `previous_response_id` names something this
 *   proxy did not return to this client, or no longer keeps (`param` says
 *   which; the backend stores nothing, so it cannot be sent on).
 * - `ShuttingDown`: the server is stopping.
 * - `TooLarge`: the body is larger than the proxy reads (the rest is not
 *   read, and the connection is closed after the answer).
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestError extends Schema.TaggedError<RequestError>("@subauth/server/RequestError")("RequestError", {
  reason: Schema.Literal(
    "InvalidBody",
    "Unsupported",
    "InvalidApiKey",
    "NotFound",
    "UnknownModel",
    "UnresolvedReference",
    "ShuttingDown",
    "TooLarge"
  ),
  param: Schema.optional(Schema.String),
  description: Schema.String
}) {
  override get message(): string {
    switch (this.reason) {
      case "InvalidBody":
        return `the request body is not valid: ${this.description}`
      case "Unsupported":
        return this.description
      case "InvalidApiKey":
        return `${this.description}; send "Authorization: Bearer <key>" with the key "subauth serve" printed, ` +
          `or the one in SUBAUTH_SERVE_KEY or the serve-key file`
      case "NotFound":
        return `no such endpoint: ${this.description}; the proxy serves POST /v1/chat/completions, ` +
          `POST /v1/responses and GET /v1/models`
      case "UnknownModel":
        return `the model ${this.description} is not in the subscription's catalog; GET /v1/models lists the models`
      case "UnresolvedReference":
        return this.description
      case "ShuttingDown":
        return `the server is shutting down (${this.description}); try again when it is back`
      case "TooLarge":
        return `${this.description}; send less (images as URLs, long documents in parts)`
    }
  }
}

/**
 * The proxy could not start.
 *
 * - `RemoteNotAllowed`: the host is not a loopback address and remote access
 *   was not asked for explicitly.
 * - `WeakKey`: the API key is too short to be exposed beyond this machine.
 * - `InvalidKey`: the API key is empty or cannot travel in a header.
 * - `AddressInUse`, `BindFailed`: listening failed.
 * - `KeyFileInsecure`, `KeyFileFailed`: the stored key is readable by others
 *   (or a symbolic link, or another user's), or could not be read or written.
 * - `KeyDirectoryInsecure`: the key file's directory (`SUBAUTH_HOME`) is
 *   accessible to other users, or not this user's.
 *
 * @since 0.1.0
 * @category errors
 */
export class StartError extends Schema.TaggedError<StartError>("@subauth/server/StartError")("StartError", {
  reason: Schema.Literal(
    "RemoteNotAllowed",
    "WeakKey",
    "InvalidKey",
    "AddressInUse",
    "BindFailed",
    "KeyFileInsecure",
    "KeyFileFailed",
    "KeyDirectoryInsecure"
  ),
  /** `host:port`, or the key file's path. */
  location: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    const where = this.location ?? "the address"
    const detail = this.description !== undefined ? ` (${this.description})` : ""
    switch (this.reason) {
      case "RemoteNotAllowed":
        return `refusing to listen on ${where}${detail}: it is not a loopback address, so other machines could use your ` +
          `subscription; use --host 127.0.0.1, or pass --allow-remote with a strong key of your own ` +
          `(SUBAUTH_SERVE_KEY or --api-key-file) if that is what you want`
      case "WeakKey":
        return `the API key is too short to listen on ${where}${detail}; a key that other machines can try must have ` +
          `at least ${MIN_REMOTE_KEY_LENGTH} characters (on loopback, give none to have one generated)`
      case "InvalidKey":
        return `the API key cannot be used${detail}; it must be 1 to 512 visible ASCII characters without spaces`
      case "AddressInUse":
        return `${where} is already in use; choose another port with --port, or stop the program that holds it`
      case "BindFailed":
        return `could not listen on ${where}${detail}`
      case "KeyFileInsecure":
        return `the API key file is accessible to other users${detail}; make it private with: chmod 600 '${where}'`
      case "KeyDirectoryInsecure":
        return `the directory of the API key file is accessible to other users${detail}; nothing was read or written ` +
          `there: make it yours and private with: chmod 700 '${where}', or use another SUBAUTH_HOME`
      case "KeyFileFailed":
        return `could not use the API key file '${where}'${detail}`
    }
  }
}

/**
 * The shortest API key accepted on a non-loopback address.
 *
 * @since 0.1.0
 * @category constants
 */
export const MIN_REMOTE_KEY_LENGTH = 32

/**
 * The `error` object of OpenAI's error format.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenAIError {
  readonly message: string
  readonly type: string
  readonly param: string | null
  readonly code: string | null
}

/**
 * How an error is answered: status, extra headers, and the `error` object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly error: OpenAIError
}

const answer = (
  status: number,
  type: string,
  code: string | null,
  message: string,
  options: { readonly param?: string | undefined; readonly headers?: Readonly<Record<string, string>> } = {}
): Answer => ({ status, headers: options.headers ?? {}, error: { message, type, param: options.param ?? null, code } })

// The openai SDKs retry 429 and 5xx unless told not to; retrying a usage limit or a dead sign-in only wastes time.
const noRetry = { "x-should-retry": "false" } as const

const seconds = (d: Duration.Duration) => String(Math.max(1, Math.ceil(Duration.toSeconds(d))))

const retryAfter = (d: Duration.Duration | undefined): Record<string, string> =>
  d === undefined ? {} : { "retry-after": seconds(d) }

/** Used when a usage limit does not say when it resets. */
const DEFAULT_USAGE_RETRY = Duration.minutes(1)

/**
 * Every error a request can fail with: the proxy's own, those of
 * `SubscriptionLLM` and those of the token lifecycle.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure =
  | RequestError
  | BackendError.UsageLimitReached
  | BackendError.ResponseError
  | AuthError.ReauthRequired
  | AuthError.TransportError
  | AuthError.TokenEndpointError
  | TokenStore.TokenStoreError

const requestAnswer = (r: RequestError): Answer => {
  switch (r.reason) {
    case "InvalidBody":
      return answer(400, "invalid_request_error", "invalid_body", r.message, { param: r.param })
    case "Unsupported":
      return answer(400, "invalid_request_error", "unsupported_parameter", r.message, { param: r.param })
    case "InvalidApiKey":
      return answer(401, "invalid_request_error", "invalid_api_key", r.message, { headers: noRetry })
    case "NotFound":
      return answer(404, "invalid_request_error", "unknown_url", r.message)
    case "UnknownModel":
      return answer(404, "invalid_request_error", "model_not_found", r.message, { param: r.param })
    case "UnresolvedReference":
      return answer(
        400,
        "invalid_request_error",
        r.param === "previous_response_id" ? "previous_response_not_found" : "item_not_found",
        r.message,
        { param: r.param }
      )
    case "ShuttingDown":
      return answer(503, "server_error", "server_shutting_down", r.message, { headers: { "retry-after": "5" } })
    case "TooLarge":
      return answer(413, "invalid_request_error", "request_too_large", r.message, { headers: noRetry })
  }
}

const usageLimitAnswer = (e: BackendError.UsageLimitReached, now: number): Answer => {
  if (e.reason === "UsageNotIncluded") {
    return answer(429, "usage_not_included", "usage_not_included", e.message, { headers: noRetry })
  }
  const resetsIn = e.resetsInSeconds !== undefined
    ? Duration.seconds(e.resetsInSeconds)
    : e.resetsAt !== undefined
    ? Duration.millis(Math.max(0, DateTime.toEpochMillis(e.resetsAt) - now))
    : DEFAULT_USAGE_RETRY
  return answer(429, "usage_limit_reached", "usage_limit_reached", e.message, {
    headers: { ...noRetry, "retry-after": seconds(resetsIn) }
  })
}

const responseAnswer = (e: BackendError.ResponseError): Answer => {
  const code = e.code ?? null
  switch (e.reason) {
    case "ContextLengthExceeded":
      return answer(400, "invalid_request_error", "context_length_exceeded", e.message)
    case "InvalidRequest":
    case "PolicyViolation":
      return answer(400, "invalid_request_error", code ?? "invalid_request", e.message)
    case "ModelNotFound":
      return answer(404, "invalid_request_error", "model_not_found", e.message, { param: "model" })
    case "QuotaExceeded":
      return answer(429, "insufficient_quota", "insufficient_quota", e.message, { headers: noRetry })
    case "RateLimited":
      return answer(429, "rate_limit_error", code ?? "rate_limit_exceeded", e.message, { headers: retryAfter(e.retryAfter) })
    case "Overloaded":
      return answer(503, "server_error", code ?? "server_is_overloaded", e.message, { headers: retryAfter(e.retryAfter) })
    case "Unauthorized":
      return answer(401, "authentication_error", "sign_in_required", e.message, { headers: noRetry })
    case "Forbidden":
      return answer(403, "permission_error", code ?? "forbidden", e.message, { headers: noRetry })
    case "Failed":
    case "Incomplete":
    case "StreamClosed":
    case "InvalidResponse":
      return answer(502, "server_error", code ?? "bad_gateway", e.message)
  }
}

/**
 * The answer for a failure of a request at `now` (epoch ms); the compiler
 * checks that every error and every `reason` has one.
 *
 * - usage limit: 429 with `retry-after` (seconds until the reset) and
 *   `x-should-retry: false`;
 * - sign-in required (`ReauthRequired`, a token refused after renewal): 401
 *   saying to run `subauth login`;
 * - backend 5xx or unreachable after the retries: 502 (504 on a timeout);
 * - a bad request body: 400.
 *
 * @since 0.1.0
 * @category utils
 */
export const answerOf = (error: Failure, now: number): Answer =>
  Match.value(error).pipe(
    Match.tagsExhaustive({
      RequestError: requestAnswer,
      UsageLimitReached: (e) => usageLimitAnswer(e, now),
      ResponseError: responseAnswer,
      ReauthRequired: (e) => answer(401, "authentication_error", "sign_in_required", e.message, { headers: noRetry }),
      TransportError: (e) =>
        e.reason === "Timeout"
          ? answer(504, "server_error", "backend_timeout", e.message)
          : answer(502, "server_error", "backend_unavailable", e.message),
      TokenEndpointError: (e) => answer(502, "server_error", "token_endpoint_error", e.message),
      TokenStoreError: (e) => answer(500, "server_error", "token_store_error", e.message)
    })
  )

/**
 * Whether `u` is one of the errors {@link answerOf} answers.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFailure = (u: unknown): u is Failure =>
  u instanceof RequestError ||
  u instanceof BackendError.UsageLimitReached ||
  u instanceof BackendError.ResponseError ||
  u instanceof AuthError.ReauthRequired ||
  u instanceof AuthError.TransportError ||
  u instanceof AuthError.TokenEndpointError ||
  u instanceof TokenStore.TokenStoreError

/**
 * The answer for anything a request can die or fail with: {@link answerOf}
 * for a {@link Failure}; anything else is a 500 that says only that it
 * happened.
 *
 * @since 0.1.0
 * @category utils
 */
export const toAnswer = (error: unknown, now: number): Answer =>
  isFailure(error) ? answerOf(error, now) : answer(500, "server_error", "internal_error", "internal error in the subauth proxy; see its log")
