import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import { TransportError } from "../AuthError.js"
import { parseJson } from "./json.js"
import { scrub } from "./text.js"

export interface RawResponse {
  readonly status: number
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
  readonly headers: Readonly<Record<string, string>>
}

/** What went wrong on the wire, in a few words, without the request. */
export const describeTransport = (error: HttpClientError.HttpClientError, secrets: ReadonlyArray<string>): string => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  const detail = typeof cause?.code === "string"
    ? cause.code
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

const connectionFailed = (endpoint: string, secrets: ReadonlyArray<string>) => (error: HttpClientError.HttpClientError) =>
  new TransportError({ reason: "ConnectionFailed", endpoint, description: describeTransport(error, secrets) })

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

/** The whole body of an answer, as text and as JSON. */
export const readBody = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<RawResponse, HttpClientError.ResponseError> =>
  Effect.map(response.text, (text): RawResponse => ({
    status: response.status,
    text,
    json: Option.getOrUndefined(parseJson(text)),
    headers: response.headers
  }))

/**
 * Sends one request and reads its whole body, within `timeout` (see
 * {@link execute}).
 */
export const send = (
  endpoint: string,
  request: HttpClientRequest.HttpClientRequest,
  options: ExecuteOptions
): Effect.Effect<RawResponse, TransportError, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    execute(
      client.pipe(HttpClient.withTracerPropagation(false)),
      endpoint,
      request,
      options,
      (response) => Effect.mapError(readBody(response), connectionFailed(endpoint, options.secrets))
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
