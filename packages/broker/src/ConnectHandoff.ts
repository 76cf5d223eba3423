/**
 * The wire between the connect page and `subauth connect <url>`: the page
 * shows a one-line command with a one-time URL; the command asks that URL
 * which sign-in it is for (`info`), runs the normal browser sign-in on the
 * user's computer, and hands the tokens to that URL (`deliver`). The URL is
 * bound to one connect session, works once and for a few minutes; the
 * session, not the command, decides the tenant and the user.
 *
 * The command refuses a URL that is not `https` (or `http` on a loopback
 * host), so tokens never cross a network in the clear.
 *
 * @since 0.1.0
 */
import { HttpClientRequest } from "@effect/platform"
import type { HttpClient } from "@effect/platform"
import { AuthError, Provider, Transport, type TokenSet } from "@subauth/core"
import { Duration, Effect, Either, Redacted, Schema } from "effect"
import { BrokerError, Code } from "./BrokerError.js"

/**
 * The path of a one-time URL: `/connect/cli/<43 base64url characters>`.
 *
 * @since 0.1.0
 * @category constants
 */
export const PATH = /^\/connect\/cli\/[A-Za-z0-9_-]{43}$/

/**
 * What the one-time URL says about its sign-in (`GET`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Info = Schema.Struct({
  /** The tenant's name: the app the sign-in is for. */
  app: Schema.NullOr(Schema.String.pipe(Schema.maxLength(200))),
  user_id: Schema.String.pipe(Schema.maxLength(200)),
  /** Where the sign-in must happen: the broker's issuer and client. */
  issuer: Schema.String.pipe(Schema.maxLength(2000)),
  client_id: Schema.String.pipe(Schema.maxLength(200)),
  expires_at: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type Info = typeof Info.Type

/**
 * What the command sends (`POST`): the tokens of the sign-in it ran.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Tokens = Schema.Struct({
  access_token: Schema.NonEmptyString.pipe(Schema.maxLength(20_000)),
  refresh_token: Schema.optional(Schema.NonEmptyString.pipe(Schema.maxLength(20_000))),
  id_token: Schema.optional(Schema.NonEmptyString.pipe(Schema.maxLength(20_000))),
  expires_in: Schema.optional(Schema.NonNegative)
})

/**
 * How the hand-over ended: `connected`, or the session's end (`failed` with
 * its reason, e.g. `different_account`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Result = Schema.Struct({
  status: Schema.Literal("connected", "expired", "denied", "failed", "pending"),
  reason: Schema.NullOr(Schema.String),
  message: Schema.NullOr(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Result = typeof Result.Type

const ErrorBody = Schema.Struct({ error: Schema.Struct({ code: Schema.String, message: Schema.String }) })

const ENDPOINT = "connect"
const TIMEOUT = Duration.seconds(30)
const MAX_BYTES = 64 * 1024

/**
 * The one-time URL, if it is one: `https`, or `http` on a loopback host, with
 * the connect path, no user name or password, at most 2,000 characters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseUrl = (text: string): Either.Either<URL, string> => {
  const trimmed = text.trim()
  if (trimmed.length > 2000 || !URL.canParse(trimmed)) return Either.left("that is not a URL: copy the whole command from the page")
  const url = new URL(trimmed)
  if (url.protocol !== "https:" && !(url.protocol === "http:" && Provider.isLoopback(url.hostname))) {
    return Either.left("the URL must be https (http only on this computer): the sign-in's tokens would cross the network in the clear")
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "" || !PATH.test(url.pathname)) {
    return Either.left("that is not a `subauth connect` URL (…/connect/cli/<code>): copy the whole command from the page")
  }
  return Either.right(url)
}

// A broker's error answer as our error; an answer we cannot read as one saying so.
const refusal = (answer: Transport.Answer): BrokerError => {
  const body = Schema.decodeUnknownOption(ErrorBody)(answer.json)
  if (body._tag === "Some") {
    const code = Schema.decodeUnknownOption(Code)(body.value.error.code)
    return new BrokerError({
      code: code._tag === "Some" ? code.value : answer.status === 410 ? "session_not_pending" : "invalid_request",
      description: body.value.error.message.slice(0, 500)
    })
  }
  return new BrokerError({
    code: answer.status >= 500 ? "internal_error" : "invalid_request",
    description: `the broker answered ${answer.status}${answer.tooLarge ? " with a body that is too large" : ""}`
  })
}

const decode = <A, I>(schema: Schema.Schema<A, I>, answer: Transport.Answer) =>
  Effect.mapError(
    Schema.decodeUnknown(schema)(answer.json),
    () => new BrokerError({ code: "internal_error", description: `the broker's answer (${answer.status}) is not what a connect URL answers` })
  )

/**
 * Which sign-in the one-time URL is for. A used or expired URL is
 * `BrokerError(session_not_pending)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const info = (url: URL): Effect.Effect<Info, BrokerError | AuthError.TransportError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const answer = yield* Transport.send(
      ENDPOINT,
      HttpClientRequest.get(url.toString()).pipe(HttpClientRequest.acceptJson),
      { timeout: TIMEOUT, secrets: [url.pathname], maxBytes: MAX_BYTES }
    )
    if (answer.status !== 200) return yield* refusal(answer)
    return yield* decode(Info, answer)
  })

/**
 * Hands the sign-in's tokens to the one-time URL, once. `connected`, or how
 * the session ended instead (`failed`, `different_account`, …); a used or
 * expired URL is `BrokerError(session_not_pending)`. A `TransportError` with
 * reason `AnswerLost` means the broker may have taken the tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const deliver = (
  url: URL,
  response: TokenSet.TokenResponse
): Effect.Effect<Result, BrokerError | AuthError.TransportError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const body: typeof Tokens.Encoded = {
      access_token: Redacted.value(response.access_token),
      ...(response.refresh_token !== undefined ? { refresh_token: Redacted.value(response.refresh_token) } : {}),
      ...(response.id_token !== undefined ? { id_token: Redacted.value(response.id_token) } : {}),
      ...(response.expires_in !== undefined ? { expires_in: response.expires_in } : {})
    }
    const secrets = [url.pathname, body.access_token, body.refresh_token ?? "", body.id_token ?? ""].filter((s) => s !== "")
    const answer = yield* Transport.send(ENDPOINT, Transport.jsonPost(url.toString(), body), { timeout: TIMEOUT, secrets, maxBytes: MAX_BYTES })
    if (answer.status === 200 || answer.status === 409) {
      const result = Schema.decodeUnknownOption(Result)(answer.json)
      if (result._tag === "Some") return result.value
    }
    return yield* refusal(answer)
  })
