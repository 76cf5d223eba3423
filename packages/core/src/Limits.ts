/**
 * How much subauth reads of what a server sends. Every body is read through a
 * limit; past it, reading stops, the connection is closed and the request
 * fails with a typed error (`TokenEndpointError`, `ResponseError`, or the
 * status of an error answer without its body), so that a server that sends
 * too much costs at most the limit in memory, never the process.
 *
 * Timeouts are with the requests: `TokenEndpoint.DEFAULT_TIMEOUT` and
 * `RetryOptions.budget`, `SubscriptionLLM.Options` (`timeout`, `idleTimeout`,
 * `streamTimeout`).
 *
 * @since 0.1.0
 */

/**
 * The issuer's answers: token endpoint, revocation, device codes, JWKS
 * (a token response is a few kilobytes).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ISSUER_RESPONSE_BYTES = 1024 * 1024

/**
 * The Codex backend's error answers (any non-2xx), whose text becomes the
 * error's description.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ERROR_BODY_BYTES = 1024 * 1024

/**
 * The Codex backend's model catalog (`GET /models`; each entry carries its base
 * instructions, a few kilobytes).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_MODELS_BYTES = 8 * 1024 * 1024

/**
 * One line of the backend's event stream, in characters: an event's `data`
 * holds a whole output item at most (the text of an answer, an encrypted
 * reasoning item).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_SSE_LINE_LENGTH = 16 * 1024 * 1024

/**
 * One event of the backend's event stream (its `data:` lines together), in
 * characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_SSE_EVENT_LENGTH = 16 * 1024 * 1024

/**
 * The usage endpoint's answer (`GET …/wham/usage`: a few windows, about a
 * kilobyte).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_USAGE_BYTES = 1024 * 1024
