import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { TransportError } from "../AuthError.js"
import { parseJson } from "./json.js"
import { scrub } from "./text.js"

export interface RawResponse {
  readonly status: number
  /** The body, or `""` when it was larger than the limit. */
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON (or was not read). */
  readonly json: unknown
  readonly headers: Readonly<Record<string, string>>
  /** The body was larger than the limit it was read with: only the status and headers are known. */
  readonly tooLarge?: boolean
}

/** What went wrong on the wire, in a few words, without the request. */
export const describeTransport = (error: HttpClientError.HttpClientError, secrets: ReadonlyArray<string>): string => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  const code = codeOf(cause)
  const detail = code !== undefined
    ? code
    : typeof cause?.message === "string"
    ? cause.message
    : error.reason
  return scrub(detail, secrets, 120)
}

export interface ExecuteOptions {
  /** Limit for the request and `onAnswer` together. */
  readonly timeout: Duration.DurationInput
  /** Values to scrub from descriptions of transport failures. */
  readonly secrets: ReadonlyArray<string>
}

export interface SendOptions extends ExecuteOptions {
  /** The longest body read; a longer one comes back `tooLarge`. */
  readonly maxBytes: number
}

// Failures of connecting: nothing of the request reached the server (Node's and undici's codes).
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ENETDOWN",
  "UND_ERR_CONNECT_TIMEOUT"
])

const codeOf = (cause: unknown): string | undefined => {
  for (let c = cause, depth = 0; typeof c === "object" && c !== null && depth < 3; depth++) {
    const code = (c as { code?: unknown }).code
    if (typeof code === "string") return code
    c = (c as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Whether the request may have reached the server before `error`: only a
 * failure to connect says it did not. A failure while reading the answer
 * (`ResponseError`) comes after the server answered.
 */
export const requestMayHaveArrived = (error: HttpClientError.HttpClientError): boolean => {
  if (error._tag === "ResponseError") return true
  if (error.reason !== "Transport") return false
  const code = codeOf(error.cause)
  return code === undefined || !NOT_SENT.has(code)
}

const connectionFailed = (endpoint: string, secrets: ReadonlyArray<string>) => (error: HttpClientError.HttpClientError) =>
  new TransportError({
    reason: requestMayHaveArrived(error) ? "AnswerLost" : "ConnectionFailed",
    endpoint,
    description: describeTransport(error, secrets)
  })

/**
 * Sends one request and hands its answer (status and headers) to `onAnswer`,
 * both within `timeout`. Every failure to get an answer becomes a
 * `TransportError` that names the endpoint; the request itself (whose body may
 * hold a token) is never kept in the error.
 */
export const execute = <A, E, R>(
  client: HttpClient.HttpClient,
  endpoint: string,
  request: HttpClientRequest.HttpClientRequest,
  options: ExecuteOptions,
  onAnswer: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | TransportError, R> =>
  client.execute(request).pipe(
    Effect.mapError(connectionFailed(endpoint, options.secrets)),
    Effect.flatMap(onAnswer),
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () =>
        new TransportError({
          reason: "Timeout",
          endpoint,
          description: `no answer within ${Duration.format(Duration.decode(options.timeout))}`
        })
    })
  )

/** "1 MiB", for messages about limits. */
export const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes >= 1024 && bytes % 1024 === 0
    ? `${bytes / 1024} KiB`
    : `${bytes} bytes`

/**
 * The body of an answer, as text and as JSON, if it is at most `maxBytes`
 * long. A body that says it is longer (`content-length`) is not read at all;
 * one that turns out longer is read no further than the limit. Either way the
 * stream is let go, which closes the connection, and the answer comes back
 * `tooLarge` with an empty text: memory never holds more than the limit.
 */
export const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<RawResponse, HttpClientError.ResponseError> =>
  Effect.suspend(() => {
    const base = { status: response.status, headers: response.headers }
    const tooLarge: RawResponse = { ...base, text: "", json: undefined, tooLarge: true }
    const declared = Number(response.headers["content-length"])
    const decoder = new TextDecoder()
    const parts: Array<string> = []
    // Past the limit from the start when the length is declared: the first chunk ends the read.
    let size = Number.isFinite(declared) && declared > maxBytes ? declared : 0
    return Stream.runForEachWhile(response.stream, (chunk) =>
      Effect.sync(() => {
        size += chunk.length
        if (size > maxBytes) return false
        parts.push(decoder.decode(chunk, { stream: true }))
        return true
      })).pipe(
        Effect.map((): RawResponse => {
          if (size > maxBytes) return tooLarge
          parts.push(decoder.decode())
          const text = parts.join("")
          return { ...base, text, json: Option.getOrUndefined(parseJson(text)) }
        })
      )
  })

/**
 * Sends one request and reads its whole body, within `timeout` (see
 * {@link execute}).
 */
export const send = (
  endpoint: string,
  request: HttpClientRequest.HttpClientRequest,
  options: SendOptions
): Effect.Effect<RawResponse, TransportError, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    execute(
      client.pipe(HttpClient.withTracerPropagation(false)),
      endpoint,
      request,
      options,
      (response) => Effect.mapError(readBody(response, options.maxBytes), connectionFailed(endpoint, options.secrets))
    ))

/**
 * A JSON POST with `content-type` first, then `headers`, as the Codex CLI orders
 * them (`content-length` and `host` are the transport's).
 */
export const jsonPost = (url: string, body: unknown, headers: Readonly<Record<string, string>> = {}) =>
  HttpClientRequest.post(url).pipe(
    HttpClientRequest.setHeaders({ "content-type": "application/json", ...headers, accept: "*/*" }),
    HttpClientRequest.bodyText(JSON.stringify(body), "application/json")
  )
