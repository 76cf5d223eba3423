/**
 * Decoding of request bodies at the HTTP edge: a body that does not decode is
 * a 400 saying where, and the fields the proxy does not forward are listed,
 * so that they can be logged as dropped.
 */
import { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { SubscriptionLLM } from "@subauth/core"
import { Effect, Either, ParseResult, Schema, type SchemaAST } from "effect"
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

/** What a schema expects, in plain words ("a string", "one of \"low\" or \"high\""), never a dump of the schema. */
export const expected = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "Literal":
      return ast.literal === null ? "null" : JSON.stringify(ast.literal)
    case "StringKeyword":
    case "TemplateLiteral":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "a boolean"
    case "TupleType":
      return "an array"
    case "TypeLiteral":
      return "an object"
    case "Refinement":
      return ast === Schema.Int.ast ? "an integer" : expected(ast.from)
    case "Transformation":
      return expected(ast.from)
    case "Suspend":
      return expected(ast.f())
    case "Union": {
      const literals = ast.types.filter((t): t is SchemaAST.Literal => t._tag === "Literal")
      const others = [...new Set(ast.types.filter((t) => t._tag !== "Literal").map(expected))]
      const listed = literals.map(expected)
      const choice = listed.length > 1 && others.length === 0 ? [`one of ${or(listed)}`] : listed
      return or([...others, ...choice])
    }
    default:
      return "a valid value"
  }
}

const or = (words: ReadonlyArray<string>): string =>
  words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`

const shown = (actual: unknown): string => {
  if (actual === undefined) return "nothing"
  const text = JSON.stringify(actual) ?? typeof actual
  return text.length > 40 ? `${Array.isArray(actual) ? "an array" : typeof actual === "object" ? "an object" : "a longer value"}` : text
}

interface Leaf {
  readonly path: ReadonlyArray<PropertyKey>
  readonly description: string
}

/**
 * The first thing wrong, where it is and in plain words: the issue tree is
 * walked to the first leaf; a union that failed as a whole is described as
 * its choices.
 */
const leafOf = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): Leaf => {
  switch (issue._tag) {
    case "Pointer":
      return leafOf(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])])
    case "Missing":
      return { path, description: "is required" }
    case "Unexpected":
    case "Forbidden":
      return { path, description: "is not allowed here" }
    case "Type":
      return { path, description: `must be ${expected(issue.ast)}, not ${shown(issue.actual)}` }
    case "Refinement": {
      if (issue.kind === "From") return leafOf(issue.issue, path)
      const message = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]?.message
      return { path, description: message ?? `must be ${expected(issue.ast)}` }
    }
    case "Transformation":
      return leafOf(issue.issue, path)
    case "Composite": {
      const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
      // A union none of whose choices fit the value itself: say what the choices are.
      if (issue.ast._tag === "Union" && issues.every((i) => i._tag === "Type")) {
        return { path, description: `must be ${expected(issue.ast)}, not ${shown(issue.actual)}` }
      }
      return issues.length > 0 ? leafOf(issues[0]!, path) : { path, description: `must be ${expected(issue.ast)}` }
    }
  }
}

/** A `RequestError("InvalidBody")` for the first issue of a parse error, in plain words, with its `param`. */
export const invalidBody = (error: ParseResult.ParseError): RequestError => {
  const leaf = leafOf(error.issue, [])
  const param = leaf.path.length > 0 ? pathOf(leaf.path) : undefined
  return new RequestError({
    reason: "InvalidBody",
    ...(param !== undefined ? { param } : {}),
    description: param !== undefined ? `"${param}": ${leaf.description}` : `the body ${leaf.description}`
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
  // All the issues, so that a union that fails as a whole can list every choice it has.
  return Schema.decodeUnknownEither(schema, { errors: "all" })(json).pipe(
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
