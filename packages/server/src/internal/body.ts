/**
 * Decoding of request bodies at the HTTP edge: a body that does not decode is
 * a 400 saying where, and the fields the proxy does not forward are listed,
 * so that they can be logged as dropped.
 */
import type { SubscriptionLLM } from "@subauth/core"
import { Either, ParseResult, Schema } from "effect"
import { RequestError } from "../ProxyError.js"

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
