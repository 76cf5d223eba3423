/**
 * Decoding of request bodies at the HTTP edge: a body that does not decode is
 * a 400 saying where, and the fields the proxy does not forward are listed,
 * so that they can be logged as dropped.
 */
import { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { SubscriptionLLM } from "@subauth/core"
import { Effect, Either, ParseResult, Schema } from "effect"
import { RequestError } from "../ProxyError.js"

/** "10 MiB", for messages. */
const mebibytes = (bytes: number) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`

/** How long a connection whose request body was left unread stays open after its answer. */
export const CLOSE_AFTER_ANSWER_MILLIS = 1000

/**
 * Stops reading a request body that will not be read (too large, or not
 * wanted), and closes its connection a moment after the answer has gone out.
 * Not at once: closing while the client is still sending makes TCP reset the
 * connection, and the answer (a 413, a 401) would be lost with it; and not
 * `connection: close` either, which makes Node close it that way. Nothing of
 * the rest is read, so memory does not grow whatever the client sends.
 */
export const closeAfterAnswer = (request: HttpServerRequest.HttpServerRequest): void => {
  const source = NodeHttpServerRequest.toIncomingMessage(request)
  if (source.complete || source.destroyed) return
  source.pause()
  const response = NodeHttpServerRequest.toServerResponse(request)
  const close = () => {
    const timer = setTimeout(() => {
      if (!source.complete) source.socket?.destroy()
    }, CLOSE_AFTER_ANSWER_MILLIS)
    timer.unref()
  }
  if (response.writableFinished) close()
  else response.once("finish", close)
}

/**
 * The request body, at most `maxBytes`, read straight from the socket: a body
 * that says it is longer (`content-length`) is refused unread, and one that
 * turns out longer is read no further than the limit (see
 * {@link closeAfterAnswer} for the rest). Memory holds at most the limit,
 * however much a client sends.
 */
export const readLimited = (maxBytes: number): Effect.Effect<Uint8Array, RequestError, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const tooLarge = () =>
      new RequestError({ reason: "TooLarge", description: `the request body is larger than ${mebibytes(maxBytes)}` })
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const declared = Number(request.headers["content-length"])
    if (Number.isFinite(declared) && declared > maxBytes) return Effect.fail(tooLarge())
    return Effect.async<Uint8Array, RequestError>((resume) => {
      const chunks: Array<Buffer> = []
      let size = 0
      const stop = () => {
        source.off("data", onData)
        source.off("end", onEnd)
        source.off("error", onError)
        source.off("aborted", onError)
      }
      const onData = (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) {
          stop()
          source.pause()
          chunks.length = 0
          resume(Effect.fail(tooLarge()))
          return
        }
        chunks.push(chunk)
      }
      const onEnd = () => {
        stop()
        resume(Effect.succeed(Buffer.concat(chunks, size)))
      }
      const onError = () => {
        stop()
        resume(Effect.fail(new RequestError({ reason: "InvalidBody", description: "the connection failed while the body was read" })))
      }
      source.on("data", onData)
      source.once("end", onEnd)
      source.once("error", onError)
      source.once("aborted", onError)
      return Effect.sync(() => {
        stop()
        source.pause()
      })
    })
  })

/**
 * The depth of the most nested array or object in JSON text, counted without
 * parsing it (strings skipped), stopping as soon as it passes `max`: a linear
 * scan, so that no recursive step later (schema decoding, encoding for the
 * backend) meets a document deep enough to overflow the stack.
 */
export const nestingExceeds = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      if (++depth > max) return true
    } else if (c === 93 || c === 125) depth--
  }
  return false
}

/**
 * The request body as JSON: at most `maxBytes` (see {@link readLimited}),
 * UTF-8, nested at most `maxDepth` deep, and JSON. Anything else is a
 * `RequestError` (`TooLarge`, or `InvalidBody` saying which).
 */
export const readJson = (
  options: { readonly maxBytes: number; readonly maxDepth: number }
): Effect.Effect<unknown, RequestError, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(readLimited(options.maxBytes), (bytes) => {
    const invalidBody = (description: string) => Effect.fail(new RequestError({ reason: "InvalidBody", description }))
    let text: string
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    } catch {
      return invalidBody("it is not UTF-8 text")
    }
    if (nestingExceeds(text, options.maxDepth)) {
      return invalidBody(`it is nested deeper than ${options.maxDepth} levels`)
    }
    return Either.match(Schema.decodeEither(Schema.parseJson())(text), {
      onLeft: () => invalidBody("it is not JSON"),
      onRight: (json) => Effect.succeed(json)
    })
  })

/** What translating a request body gives, whatever the API: what to send, whether to stream, what was dropped. */
export interface Translation {
  readonly request: SubscriptionLLM.Request & { readonly model: string }
  readonly stream: boolean
  /** Fields accepted and not forwarded. */
  readonly dropped: ReadonlyArray<string>
}

const pathOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`),
    ""
  )

const shorten = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}…` : text)

/** A `RequestError("InvalidBody")` for the first issue of a parse error. */
export const invalidBody = (error: ParseResult.ParseError): RequestError => {
  const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
  const param = first !== undefined && first.path.length > 0 ? pathOf(first.path) : undefined
  return new RequestError({
    reason: "InvalidBody",
    ...(param !== undefined ? { param } : {}),
    description: first === undefined
      ? "it does not match the endpoint's schema"
      : `${param !== undefined ? `"${param}": ` : ""}${shorten(first.message.replace(/\s+/g, " "))}`
  })
}

/**
 * `json` decoded with `schema`, and the names of its top-level fields that
 * `schema` does not read (accepted, not sent on): what is forwarded is what
 * the schema has, so the two cannot drift apart.
 */
export const decode = <A, I>(
  schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields },
  json: unknown
): Either.Either<{ readonly body: A; readonly ignored: ReadonlyArray<string> }, RequestError> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(new RequestError({ reason: "InvalidBody", description: "it must be a JSON object" }))
  }
  return Schema.decodeUnknownEither(schema, { errors: "first" })(json).pipe(
    Either.mapLeft(invalidBody),
    Either.map((body) => ({
      body,
      ignored: Object.keys(json).filter((key) => !Object.hasOwn(schema.fields, key) && (json as Record<string, unknown>)[key] != null)
    }))
  )
}

/** An object with a `type` and any other fields: content parts, tools, tool choices, checked one by one. */
export const Part = Schema.Struct({ type: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/** What a translation step gives. */
export type Result<A> = Either.Either<A, RequestError>

/** A `RequestError("Unsupported")` about `param`. */
export const unsupported = (param: string, description: string) => new RequestError({ reason: "Unsupported", param, description })

/** A `RequestError("InvalidBody")` about `param`. */
export const invalid = (param: string, description: string) =>
  new RequestError({ reason: "InvalidBody", param, description: `"${param}": ${description}` })
