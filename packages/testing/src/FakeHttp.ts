/**
 * What the fake servers share: the request log they keep and the faults a test
 * can script into them, per endpoint and per call number.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"

/**
 * One request as it arrived.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  /** The endpoint's name, e.g. `token` or `deviceUserCode`. */
  readonly endpoint: string
  /** 1 for the first request to this endpoint since the server started, and so on. */
  readonly call: number
  readonly method: string
  readonly path: string
  /** Query parameters in order. */
  readonly query: ReadonlyArray<readonly [string, string]>
  /** Header names lower-cased, in the order they arrived. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly contentType: string | undefined
  /** The raw body. */
  readonly body: string
  /**
   * The body's top-level fields in order, from a form or a JSON object; values
   * that are not strings are JSON-encoded.
   */
  readonly fields: ReadonlyArray<readonly [string, string]>
  /** When it arrived, from the server's `Clock`, in ms. */
  readonly at: number
  /** The fault applied to it, if any. */
  readonly fault: Fault["_tag"] | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | { readonly _tag: "Latency"; readonly delay: Duration.Duration }
  | {
    readonly _tag: "Status"
    readonly status: number
    readonly body: unknown
    readonly headers: Readonly<Record<string, string>>
  }
  | { readonly _tag: "MalformedJson"; readonly status: number }
  | { readonly _tag: "Reset" }

/**
 * Answers late (then normally, or with the next matching fault). Uses the
 * server's `Clock`: under `TestClock` it waits for the clock to move.
 *
 * @since 0.1.0
 * @category constructors
 */
export const latency = (delay: Duration.DurationInput): Fault => ({ _tag: "Latency", delay: Duration.decode(delay) })

/**
 * Answers with `status` and a body: JSON unless it is a string.
 *
 * @since 0.1.0
 * @category constructors
 */
export const status = (
  code: number,
  body: unknown = { error: { message: `fake ${code}`, code: `fake_${code}` } },
  headers: Readonly<Record<string, string>> = {}
): Fault => ({ _tag: "Status", status: code, body, headers })

/**
 * Answers `application/json` whose body is cut short.
 *
 * @since 0.1.0
 * @category constructors
 */
export const malformedJson = (code = 200): Fault => ({ _tag: "MalformedJson", status: code })

/**
 * Destroys the connection without answering.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reset: Fault = { _tag: "Reset" }

/**
 * When a fault applies: to the requests of `endpoint` (or `"*"` for all),
 * on the call numbers in `calls` counted from when the rule was added (1 is the
 * next matching request), or on every call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  readonly endpoint: string
  readonly fault: Fault
  readonly calls?: ReadonlyArray<number> | "all"
  /** Only requests for which this holds count (e.g. one grant type). */
  readonly when?: (request: RecordedRequest) => boolean
}
