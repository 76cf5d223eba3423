/**
 * What the fake Codex backend enforces, as the real one is known to (protocol.md
 * §5.3, §9), without HTTP: who may call it, and the first rule a request body
 * breaks, in the order the backend checks them. `FakeCodexBackend` turns a
 * {@link Rejection} into its answer (with the rate-limit headers).
 */
import { Effect, Either, Option, Schema } from "effect"
import type * as jose from "jose"

/**
 * The request body as the fake reads it (its own schema: a check on the
 * client, not a copy of it).
 */
export const RequestBody = Schema.Struct({
  model: Schema.String,
  instructions: Schema.optional(Schema.String),
  input: Schema.Array(Schema.Struct({ type: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  tools: Schema.optional(Schema.Array(Schema.Struct({ type: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown })))),
  tool_choice: Schema.optional(Schema.Unknown),
  parallel_tool_calls: Schema.optional(Schema.Boolean),
  reasoning: Schema.optional(Schema.NullOr(Schema.Struct({ effort: Schema.optional(Schema.String), summary: Schema.optional(Schema.String) }))),
  include: Schema.optional(Schema.Array(Schema.String)),
  prompt_cache_key: Schema.optional(Schema.String),
  text: Schema.optional(Schema.Unknown)
})

export type RequestBody = typeof RequestBody.Type

/** A refusal: the status and body the backend answers with. */
export interface Rejection {
  readonly status: number
  readonly body: unknown
}

/**
 * The 401 body of an access token the backend does not accept.
 */
export const unauthorizedBody = {
  error: {
    message: "Provided authentication token is expired. Please try signing in again.",
    type: null,
    code: "token_expired",
    param: null
  },
  status: 401
} as const

const AUTH = "https://api.openai.com/auth"

const detail = (status: number, text: string): Rejection => ({ status, body: { detail: text } })

const invalid = (status: number, message: string, code: string | null, param: string | null = null): Rejection => ({
  status,
  body: { error: { message, type: "invalid_request_error", param, code } }
})

/**
 * A 401 when the bearer token does not verify (or was rejected), a 403 when
 * `chatgpt-account-id` is not its account; none when the caller may go on.
 */
export const authenticate = (
  header: (name: string) => string | undefined,
  verify: (token: string) => Effect.Effect<Option.Option<jose.JWTPayload>>,
  rejected: ReadonlySet<string>
): Effect.Effect<Option.Option<Rejection>> =>
  Effect.gen(function*() {
    const authorization = header("authorization") ?? ""
    const token = authorization.startsWith("Bearer ") ? authorization.slice(7) : ""
    const claims = token === "" || rejected.has(token) ? Option.none() : yield* verify(token)
    if (Option.isNone(claims)) return Option.some({ status: 401, body: unauthorizedBody })
    const auth = claims.value[AUTH] as { chatgpt_account_id?: unknown } | undefined
    if (header("chatgpt-account-id") !== auth?.chatgpt_account_id) {
      // The real backend's words for this are not on record; the status is the fake's choice.
      return Option.some(detail(403, "The chatgpt-account-id header does not match the access token's account."))
    }
    return Option.none()
  })

/** What the body rules depend on. */
export interface Rules {
  /** Body fields answered with `{"detail":"Unsupported parameter: <name>"}`. */
  readonly unsupportedParameters: ReadonlyArray<string>
  /** The slugs `model` may name. */
  readonly models: ReadonlyArray<{ readonly slug: string }>
  /** Whether this backend issued an `encrypted_content`. */
  readonly issued: (encryptedContent: string) => boolean
}

/** The body decoded, or the first rule of the real backend it breaks, in the order the backend checks them. */
export const validate = (body: unknown, rules: Rules): Either.Either<RequestBody, Rejection> => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return Either.left(detail(400, "Invalid JSON body"))
  const raw = body as Record<string, unknown>
  const unsupported = rules.unsupportedParameters.find((name) => name in raw)
  if (unsupported !== undefined) return Either.left(detail(400, `Unsupported parameter: ${unsupported}`))
  if (raw.store !== false) return Either.left(detail(400, "Store must be set to false"))
  if (raw.stream !== true) return Either.left(detail(400, "Stream must be set to true"))
  const decoded = Schema.decodeUnknownEither(RequestBody)(raw)
  if (Either.isLeft(decoded)) return Either.left(detail(400, "Invalid request body"))
  const request = decoded.right
  if (!rules.models.some((m) => m.slug === request.model)) {
    return Either.left(detail(400, `The '${request.model}' model is not supported when using Codex with a ChatGPT account.`))
  }
  const calls = new Set<unknown>()
  for (const item of request.input) {
    if (typeof item.id === "string" || item.type === "item_reference") {
      const id = typeof item.id === "string" ? item.id : String(item.id ?? "")
      return Either.left(invalid(
        404,
        `Item with id '${id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
        null,
        "input"
      ))
    }
    if (item.type === "reasoning" && !rules.issued(String(item.encrypted_content))) {
      return Either.left(invalid(400, "The encrypted content of a reasoning item could not be verified.", "invalid_encrypted_content", "input"))
    }
    if (item.type === "function_call") calls.add(item.call_id)
    if (item.type === "function_call_output" && !calls.has(item.call_id)) {
      return Either.left(invalid(400, `No tool call found for function call output with call_id ${String(item.call_id)}.`, null, "input"))
    }
  }
  return Either.right(request)
}
