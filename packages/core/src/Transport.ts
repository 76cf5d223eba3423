/**
 * One HTTP exchange as every part of subauth makes it: a timeout for the
 * request and its answer together, the body read no further than a limit,
 * and every failure a `TransportError` that says whether the request may
 * have reached the server (`AnswerLost`) or surely did not
 * (`ConnectionFailed`), with the given secrets scrubbed from its words. For
 * code outside core that talks to a subauth server (`subauth connect` and
 * the broker), so there is one copy of it.
 *
 * @since 0.1.0
 */
import * as http from "./internal/http.js"

/**
 * A response read whole within a limit: status, headers, text and JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type Answer = http.RawResponse

/**
 * @since 0.1.0
 * @category models
 */
export type Options = http.SendOptions

/**
 * Sends one request and reads its whole answer within `timeout` and `maxBytes`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const send = http.send

/**
 * A JSON POST request, `content-type` first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonPost = http.jsonPost
