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
  | { readonly _tag: "LostAnswer" }
  | {
    readonly _tag: "LargeBody"
    readonly status: number
    readonly size: number
    readonly prefix: string
    readonly fill: string
    readonly headers: Readonly<Record<string, string>>
  }
  | {
    readonly _tag: "Trickle"
    readonly status: number
    readonly prefix: string
    readonly chunk: string
    readonly every: Duration.Duration
    readonly headers: Readonly<Record<string, string>>
  }

/**
 * Answers late (then normally, or with the next matching fault). Uses the
 * server's `Clock`: under `TestClock` it waits for the clock to move. A
 * request whose client has gone away by the end of the delay is dropped
 * unprocessed, as a request lost on its way to the server would be.
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
 * Handles the request (a refresh token is spent, a code redeemed), then
 * destroys the connection before the answer goes out: the server acted, the
 * client never hears of it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const lostAnswer: Fault = { _tag: "LostAnswer" }

/**
 * Answers `status` with a body of `size` bytes: `prefix`, then `fill` repeated
 * (cut to size), generated as the client reads it, so that a gigabyte costs
 * the fake nothing. `content-length` is declared only when `headers` says so;
 * otherwise the body is chunked.
 *
 * @since 0.1.0
 * @category constructors
 */
export const largeBody = (
  size: number,
  options: {
    readonly status?: number
    readonly prefix?: string
    readonly fill?: string
    readonly headers?: Readonly<Record<string, string>>
  } = {}
): Fault => ({
  _tag: "LargeBody",
  status: options.status ?? 200,
  size,
  prefix: options.prefix ?? "",
  fill: options.fill ?? "x",
  headers: options.headers ?? { "content-type": "application/json" }
})

/**
 * Answers `status` and headers at once, then `prefix`, then `chunk` every
 * `every` (on the server's `Clock`), forever: a server that trickles.
 *
 * @since 0.1.0
 * @category constructors
 */
export const trickle = (options: {
  readonly every: Duration.DurationInput
  readonly chunk: string
  readonly prefix?: string
  readonly status?: number
  readonly headers?: Readonly<Record<string, string>>
}): Fault => ({
  _tag: "Trickle",
  status: options.status ?? 200,
  prefix: options.prefix ?? "",
  chunk: options.chunk,
  every: Duration.decode(options.every),
  headers: options.headers ?? { "content-type": "text/event-stream" }
})

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

/**
 * A request captured from the real Codex CLI (`fixtures/codex-cli/*.json`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CapturedRequest {
  readonly method: string
  readonly path: string
  readonly headers_in_order: ReadonlyArray<readonly [string, string]>
  readonly body: Record<string, unknown> | null
  readonly raw_body_order?: ReadonlyArray<string> | null
}

/**
 * Headers the HTTP client owns; where they fall among the others is the transport's choice.
 *
 * @since 0.1.0
 * @category constants
 */
export const transportHeaders: ReadonlySet<string> = new Set(["host", "content-length", "connection"])

/**
 * How a recorded request differs from a captured one, in what a client
 * controls: method, path, content type, the names and order of its own
 * headers, the presence of `host` and `content-length`, and the names and
 * order of body fields. Empty when they match.
 *
 * @since 0.1.0
 * @category utils
 */
export const differences = (expected: CapturedRequest, actual: RecordedRequest): ReadonlyArray<string> => {
  const out: Array<string> = []
  const own = (headers: ReadonlyArray<readonly [string, string]>) =>
    headers.map(([name]) => name.toLowerCase()).filter((name) => !transportHeaders.has(name))
  if (actual.method !== expected.method) out.push(`method ${actual.method}, expected ${expected.method}`)
  if (actual.path !== expected.path) out.push(`path ${actual.path}, expected ${expected.path}`)
  const expectedType = expected.headers_in_order.find(([n]) => n.toLowerCase() === "content-type")?.[1]
  if (actual.contentType !== expectedType) out.push(`content-type ${actual.contentType}, expected ${expectedType}`)
  const [sent, wanted] = [own(actual.headers), own(expected.headers_in_order)]
  if (sent.join(",") !== wanted.join(",")) out.push(`headers [${sent.join(", ")}], expected [${wanted.join(", ")}]`)
  const names = new Set(actual.headers.map(([n]) => n))
  for (const name of ["host", "content-length"]) {
    if (expected.headers_in_order.some(([n]) => n === name) && !names.has(name)) out.push(`no ${name} header`)
  }
  const fields = actual.fields.map(([k]) => k)
  const wantedFields = expected.raw_body_order ?? Object.keys(expected.body ?? {})
  if (fields.join(",") !== wantedFields.join(",")) out.push(`body fields [${fields.join(", ")}], expected [${wantedFields.join(", ")}]`)
  return out
}
