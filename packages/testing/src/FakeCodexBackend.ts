/**
 * A fake ChatGPT Codex backend on 127.0.0.1, as a Layer beside the
 * {@link FakeOAuthServer}, whose access tokens it checks.
 *
 * `POST /backend-api/codex/responses` enforces what the real backend is known
 * to enforce (protocol.md §5.3, §9): a valid bearer token from the fake issuer
 * (else 401), a `chatgpt-account-id` matching it, `store: false`, `stream:
 * true`, no unsupported sampling parameters (`{"detail":"Unsupported
 * parameter: temperature"}`), no input item ids ("Item with id … not found"),
 * reasoning items whose `encrypted_content` it issued, and function call
 * outputs that answer a call in the same input. It streams scripted answers
 * as real SSE, with the rate-limit headers on every answer; `response.completed`
 * carries an empty `output` unless told otherwise, as the real backend may.
 *
 * Faults: everything `FakeHttp` offers (per endpoint `responses`, `models` or `usage`),
 * {@link usageLimit} (the captured 429), and per answer `response.failed`,
 * `response.incomplete`, a stream cut before `response.completed` (the body
 * ends, or the connection drops), slow streams; {@link FakeCodexBackend.Service.rejectAccessToken} makes
 * a token that verifies fine answer 401, as a server-side revocation would.
 *
 * `GET /backend-api/codex/models?client_version=…` answers a model catalog.
 *
 * `GET /backend-api/wham/usage` (the usage endpoint, protocol.md §5.1,
 * authenticated as `/responses` is) answers the windows of {@link FakeUsage},
 * which tests set ({@link FakeCodexBackend.Service.setUsage}); every answer
 * carries the same windows as `x-codex-*` headers (§5.4). Fault endpoint name:
 * `usage`.
 *
 * @since 0.1.0
 */
import { FetchHttpClient, type HttpClient, HttpRouter, type HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { type Provider, SubscriptionLLM, TokenManager, TokenStore } from "@subauth/core"
import { Clock, Context, Duration, Effect, Either, Layer, Option, Stream } from "effect"
import * as FakeHttp from "./FakeHttp.js"
import { FakeOAuthServer, layer as layerOAuth, layerProvider, type Options as OAuthOptions } from "./FakeOAuthServer.js"
import { frames, render } from "./internal/codexStream.js"
import * as Rules from "./internal/codexRules.js"
import { randomHex } from "./internal/random.js"
import { listen } from "./internal/listen.js"
import { makeRecorder } from "./internal/instrument.js"
import { defaultUsage, type FakeUsage, type FakeWindow, usageBody, usageHeaders } from "./internal/codexUsage.js"

/**
 * The limits the fake reports (its usage endpoint and the rate-limit headers
 * of every answer), in `internal/codexUsage.ts`: `FakeWindow`, `FakeUsage`,
 * `defaultUsage`, `usageHeaders`, `usageBody`.
 *
 * @since 0.1.0
 */
export { defaultUsage, type FakeUsage, type FakeWindow, usageBody, usageHeaders }

/**
 * One output item of a scripted answer (see {@link message}, {@link reasoning},
 * {@link functionCall}).
 *
 * @since 0.1.0
 * @category models
 */
export type ScriptItem =
  | { readonly type: "message"; readonly text: string; readonly chunks: number }
  | { readonly type: "reasoning"; readonly summary: ReadonlyArray<string> }
  | { readonly type: "function_call"; readonly name: string; readonly arguments: string; readonly callId: string | undefined }

/**
 * How a scripted stream ends (see {@link completed}, {@link failed},
 * {@link incomplete}, {@link cut}).
 *
 * @since 0.1.0
 * @category models
 */
export type Ending =
  | { readonly _tag: "Completed"; readonly output: "items" | "empty" }
  | { readonly _tag: "Failed"; readonly error: Readonly<Record<string, unknown>> }
  | { readonly _tag: "Incomplete"; readonly reason: string }
  | { readonly _tag: "Cut"; readonly after: number | undefined; readonly mode: "close" | "drop" }

/**
 * One scripted answer of `/responses`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly items: ReadonlyArray<ScriptItem>
  /** Default {@link completed}`()`: `response.completed` with an empty `output`. */
  readonly ending?: Ending
  /** `response.completed.response.usage`; default derived from the sizes. */
  readonly usage?: Readonly<Record<string, unknown>>
  /** Wait this long (on the server's `Clock`) before each event: a slow stream. */
  readonly eventDelay?: Duration.DurationInput
}

/**
 * The request body as the fake reads it (its own schema: a check on the
 * client, not a copy of it).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestBody = Rules.RequestBody

/**
 * @since 0.1.0
 * @category schemas
 */
export type RequestBody = Rules.RequestBody

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** The answer when none is queued. Default: the fixture's "hi from the fake backend". */
  readonly respond: (request: RequestBody) => Answer
  /** `GET /models` entries, in the backend's snake_case; their slugs are the models `/responses` accepts. */
  readonly models: ReadonlyArray<Readonly<Record<string, unknown>> & { readonly slug: string }>
  /** The limits reported at the usage endpoint and in the rate-limit headers. Default {@link defaultUsage}. */
  readonly usage: FakeUsage
  /**
   * Sent on every answer of the handlers instead of the headers made from
   * `usage` ({@link usageHeaders}); `setUsage` drops it.
   */
  readonly rateLimitHeaders?: Readonly<Record<string, string>>
  /** Body fields answered with `{"detail":"Unsupported parameter: <name>"}`. */
  readonly unsupportedParameters: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace FakeCodexBackend {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `http://127.0.0.1:<port>`. */
    readonly url: string
    /** `{url}/backend-api/codex`: `SubscriptionLLM`'s `baseUrl`. */
    readonly baseUrl: string
    /** Options for `SubscriptionLLM.layer` that point it here. */
    readonly clientOptions: SubscriptionLLM.Options
    readonly requests: Effect.Effect<ReadonlyArray<FakeHttp.RecordedRequest>>
    readonly clearRequests: Effect.Effect<void>
    /** Adds a fault rule (endpoints `responses`, `models`, `usage`); call numbers count from now. */
    readonly inject: (rule: FakeHttp.Rule) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    /** Answers for the next requests to `/responses`, in order. */
    readonly enqueue: (...answers: ReadonlyArray<Answer>) => Effect.Effect<void>
    readonly configure: (patch: Partial<Settings>) => Effect.Effect<void>
    /**
     * The limits from now on, at the usage endpoint and in the headers of
     * every answer (a `rateLimitHeaders` set before is dropped).
     */
    readonly setUsage: (usage: FakeUsage) => Effect.Effect<void>
    /** From now on this token gets 401 although its signature and expiry hold. */
    readonly rejectAccessToken: (token: string) => Effect.Effect<void>
    /**
     * The SSE answers of `/responses` so far: how many began, how many sent
     * every event, and how many are still open (a client that hangs up ends
     * its stream: `open` falls while `finished` does not rise).
     */
    readonly streams: Effect.Effect<StreamCounts>
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StreamCounts {
  readonly started: number
  readonly finished: number
  readonly open: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FakeCodexBackend extends Context.Tag("@subauth/testing/FakeCodexBackend")<
  FakeCodexBackend,
  FakeCodexBackend.Service
>() {}

// --- scripting ----------------------------------------------------------------------------------

/**
 * An assistant message, streamed in `chunks` text deltas (default 2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const message = (text: string, options: { readonly chunks?: number } = {}): ScriptItem => ({
  type: "message",
  text,
  chunks: options.chunks ?? 2
})

/**
 * A reasoning item with these summary parts; it carries `encrypted_content`
 * when the request included `reasoning.encrypted_content`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reasoning = (...summary: ReadonlyArray<string>): ScriptItem => ({ type: "reasoning", summary })

/**
 * A function call; `args` is JSON-encoded unless it is a string.
 *
 * @since 0.1.0
 * @category constructors
 */
export const functionCall = (name: string, args: unknown, callId?: string): ScriptItem => ({
  type: "function_call",
  name,
  arguments: typeof args === "string" ? args : JSON.stringify(args),
  callId
})

/**
 * `response.completed`, with an empty `output` (default, as the real backend
 * may send it) or with the items.
 *
 * @since 0.1.0
 * @category constructors
 */
export const completed = (options: { readonly output?: "items" | "empty" } = {}): Ending => ({
  _tag: "Completed",
  output: options.output ?? "empty"
})

/**
 * `response.failed` with `response.error = { code, message, ...extra }`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failed = (code: string, message: string, extra: Readonly<Record<string, unknown>> = {}): Ending => ({
  _tag: "Failed",
  error: { code, message, ...extra }
})

/**
 * `response.incomplete` with `incomplete_details.reason`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const incomplete = (reason: string): Ending => ({ _tag: "Incomplete", reason })

/**
 * The stream stops before `response.completed`: after `after` events (default:
 * all but the last), by ending the body properly (`close`, default) or by
 * dropping the connection mid-body (`drop`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const cut = (options: { readonly after?: number; readonly mode?: "close" | "drop" } = {}): Ending => ({
  _tag: "Cut",
  after: options.after,
  mode: options.mode ?? "close"
})

/**
 * The captured 429 (`backend-usage-limit-429.json`): body and rate-limit
 * headers, with the reset instant and plan of your choice.
 *
 * @see protocol.md §5.6, §9
 * @since 0.1.0
 * @category constructors
 */
export const usageLimit = (options: {
  readonly resetsAt: number
  readonly resetsInSeconds: number
  readonly planType?: string
}): FakeHttp.Fault =>
  FakeHttp.status(
    429,
    {
      error: {
        type: "usage_limit_reached",
        message: "The usage limit has been reached",
        plan_type: options.planType ?? "plus",
        resets_at: options.resetsAt,
        resets_in_seconds: options.resetsInSeconds
      }
    },
    {
      "x-codex-primary-used-percent": "100",
      "x-codex-primary-window-minutes": "300",
      "x-codex-primary-reset-after-seconds": String(options.resetsInSeconds),
      "x-codex-secondary-used-percent": "40",
      "x-codex-secondary-window-minutes": "10080",
      "x-codex-secondary-reset-after-seconds": "86400"
    }
  )

// --- defaults -----------------------------------------------------------------------------------

/**
 * The default answer: the text of `fixtures/codex-cli/sse-full-sse.txt`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultAnswer: Answer = { items: [message("hi from the fake backend")] }

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultModels: Settings["models"] = ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex"].map((slug) => ({
  slug,
  display_name: slug.replace(/^gpt/, "GPT"),
  context_window: 272_000,
  default_reasoning_level: "medium",
  supported_reasoning_levels: [
    { effort: "low", description: "Fast" },
    { effort: "medium", description: "Balanced" },
    { effort: "high", description: "Thorough" }
  ],
  supports_reasoning_summaries: true,
  support_verbosity: true,
  default_verbosity: "medium",
  supports_parallel_tool_calls: true,
  base_instructions: `You are ${slug}, a coding agent (fake instructions).`
}))

/**
 * The rate-limit headers of {@link defaultUsage} (`usageHeaders(defaultUsage)`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRateLimitHeaders: Readonly<Record<string, string>> = {
  "x-codex-primary-used-percent": "12.5",
  "x-codex-primary-window-minutes": "300",
  "x-codex-primary-reset-after-seconds": "3600",
  "x-codex-secondary-used-percent": "40",
  "x-codex-secondary-window-minutes": "10080",
  "x-codex-secondary-reset-after-seconds": "86400",
  "x-codex-credits-has-credits": "false",
  "x-codex-credits-unlimited": "false",
  "x-codex-active-limit": "codex"
}

/**
 * The parameters the real backend refuses (protocol.md §5.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUnsupportedParameters: ReadonlyArray<string> = [
  "temperature",
  "top_p",
  "max_output_tokens",
  "max_completion_tokens",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "top_logprobs",
  "truncation",
  "metadata"
]

/**
 * The 401 body of an access token the backend does not accept.
 *
 * @since 0.1.0
 * @category constants
 */
export const unauthorizedBody = Rules.unauthorizedBody


// --- the server ---------------------------------------------------------------------------------

/**
 * Starts the backend in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Partial<Settings> = {}) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer
    let settings: Settings = {
      respond: () => defaultAnswer,
      models: defaultModels,
      usage: defaultUsage,
      unsupportedParameters: defaultUnsupportedParameters,
      ...options
    }
    const recorder = makeRecorder()
    const queue: Array<Answer> = []
    const rejected = new Set<string>()
    const encrypted = new Set<string>()
    const counts = { started: 0, finished: 0, closed: 0 }

    const { server, url } = yield* listen("fake Codex backend")
    const baseUrl = `${url}/backend-api/codex`

    const rateLimitHeaders = () => settings.rateLimitHeaders ?? usageHeaders(settings.usage)
    const json = (status: number, body: unknown) =>
      HttpServerResponse.unsafeJson(body, { status, headers: rateLimitHeaders() })
    const reject = (rejection: Rules.Rejection) => json(rejection.status, rejection.body)
    const authenticate = (header: (name: string) => string | undefined) =>
      Rules.authenticate(header, oauth.verifyAccessToken, rejected)

    const stream = (answer: Answer, request: RequestBody, raw: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const ending = answer.ending ?? completed()
        const outputChars = answer.items.reduce(
          (n, item) => n + (item.type === "message" ? item.text.length : item.type === "function_call" ? item.arguments.length : 0),
          0
        )
        const inputTokens = Math.max(1, Math.round(JSON.stringify(request.input).length / 4))
        const outputTokens = Math.max(1, Math.round(outputChars / 4))
        const rendered = render(answer.items, ending, {
          model: request.model,
          createdAt: Math.floor(now / 1000),
          includeEncrypted: request.include?.includes("reasoning.encrypted_content") === true,
          randomHex,
          issueEncrypted: () => {
            const token = `gAAAAB_FAKE_${randomHex(24)}`
            encrypted.add(token)
            return token
          },
          usage: answer.usage ?? {
            input_tokens: inputTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: outputTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: inputTokens + outputTokens
          }
        })
        const encoder = new TextEncoder()
        const all = frames([...rendered.body, ...rendered.ending])
        const delay = answer.eventDelay === undefined ? undefined : Duration.decode(answer.eventDelay)
        const events = Stream.fromIterable(all).pipe(
          delay === undefined ? (s) => s : Stream.mapEffect((frame) => Effect.as(Effect.sleep(delay), frame)),
          Stream.map((frame) => encoder.encode(frame))
        )
        // Node corks the socket for the current tick: let the events go out before the connection drops.
        const drop = Effect.async<void>((resume) => void setImmediate(() => resume(Effect.void))).pipe(
          Effect.zipRight(Effect.sync(() => NodeHttpServerRequest.toIncomingMessage(raw).socket.destroy()))
        )
        const body = (ending._tag === "Cut" && ending.mode === "drop" ? Stream.concat(events, Stream.drain(Stream.fromEffect(drop))) : events).pipe(
          Stream.onStart(Effect.sync(() => void counts.started++)),
          Stream.onEnd(Effect.sync(() => void counts.finished++)),
          Stream.ensuring(Effect.sync(() => void counts.closed++))
        )
        return HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: {
            ...rateLimitHeaders(),
            "cache-control": "no-cache",
            "openai-model": request.model,
            "x-request-id": `req_fake_${randomHex(8)}`
          }
        })
      })

    const responses = recorder.instrument("responses", (req) =>
      Effect.gen(function*() {
        const denied = yield* authenticate(req.header)
        if (Option.isSome(denied)) return reject(denied.value)
        const request = Rules.validate(req.json, {
          unsupportedParameters: settings.unsupportedParameters,
          models: settings.models,
          issued: (token) => encrypted.has(token)
        })
        if (Either.isLeft(request)) return reject(request.left)
        const answer = queue.shift() ?? settings.respond(request.right)
        return yield* stream(answer, request.right, yield* HttpServerRequest.HttpServerRequest)
      }))

    const models = recorder.instrument("models", (req) =>
      Effect.gen(function*() {
        const denied = yield* authenticate(req.header)
        if (Option.isSome(denied)) return reject(denied.value)
        if (!req.url.searchParams.get("client_version")) return json(400, { detail: "client_version is required" })
        return HttpServerResponse.unsafeJson({ models: settings.models }, { headers: { etag: `"fake-models-${settings.models.length}"` } })
      }))

    const usage = recorder.instrument("usage", (req) =>
      Effect.gen(function*() {
        const denied = yield* authenticate(req.header)
        if (Option.isSome(denied)) return reject(denied.value)
        return HttpServerResponse.unsafeJson(usageBody(settings.usage, yield* Clock.currentTimeMillis))
      }))

    yield* server.serve(
      HttpRouter.empty.pipe(
        HttpRouter.post("/backend-api/codex/responses", responses),
        HttpRouter.get("/backend-api/codex/models", models),
        HttpRouter.get("/backend-api/wham/usage", usage)
      )
    )

    const service: FakeCodexBackend.Service = {
      url,
      baseUrl,
      clientOptions: { baseUrl, allowInsecureHttp: true },
      requests: recorder.requests,
      clearRequests: recorder.clearRequests,
      inject: recorder.inject,
      clearFaults: recorder.clearFaults,
      enqueue: (...answers) => Effect.sync(() => void queue.push(...answers)),
      configure: (patch) => Effect.sync(() => void (settings = { ...settings, ...patch })),
      setUsage: (usage) =>
        Effect.sync(() => {
          const { rateLimitHeaders: _dropped, ...rest } = settings
          settings = { ...rest, usage }
        }),
      rejectAccessToken: (token) => Effect.sync(() => void rejected.add(token)),
      streams: Effect.sync(() => ({ started: counts.started, finished: counts.finished, open: counts.started - counts.closed }))
    }
    return service
  })

/**
 * The backend, bound to a random port on 127.0.0.1 for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Partial<Settings> = {}
): Layer.Layer<FakeCodexBackend, HttpServerError.ServeError, FakeOAuthServer> => Layer.scoped(FakeCodexBackend, make(options))

/**
 * `SubscriptionLLM` pointed at the fake backend.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: Omit<SubscriptionLLM.Options, "baseUrl" | "allowInsecureHttp"> = {}
): Layer.Layer<SubscriptionLLM.SubscriptionLLM, never, FakeCodexBackend | TokenManager.TokenManager | HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(FakeCodexBackend, (backend) =>
      SubscriptionLLM.layer({ ...options, ...backend.clientOptions }).pipe(Layer.orDie))
  )

/**
 * @since 0.1.0
 * @category models
 */
export interface TestOptions {
  readonly backend?: Partial<Settings>
  readonly manager?: TokenManager.Options
  readonly client?: Omit<SubscriptionLLM.Options, "baseUrl" | "allowInsecureHttp">
}

/**
 * What {@link layerSignedIn} provides.
 *
 * @since 0.1.0
 * @category models
 */
export type SignedIn =
  | SubscriptionLLM.SubscriptionLLM
  | TokenManager.TokenManager
  | TokenStore.TokenStore
  | Provider.Provider
  | FakeCodexBackend
  | HttpClient.HttpClient

/**
 * {@link layerTest} on a `FakeOAuthServer` from the context, so that several
 * tests can share one issuer (making its RSA key takes a tenth of a second).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSignedIn = (
  options: TestOptions = {}
): Layer.Layer<SignedIn, HttpServerError.ServeError, FakeOAuthServer> =>
  Layer.mergeAll(layerClient(options.client), Layer.effectDiscard(Effect.orDie(signIn))).pipe(
    Layer.provideMerge(TokenManager.layer(options.manager)),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(layerProvider),
    Layer.provideMerge(layer(options.backend)),
    Layer.provideMerge(FetchHttpClient.layer)
  )

/**
 * Everything a test of a `SubscriptionLLM` program needs, with no Node-specific
 * client: the fake issuer and backend, a memory store in which the default
 * profile is signed in, `TokenManager` and `SubscriptionLLM`, over
 * `FetchHttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  options: TestOptions & { readonly server?: OAuthOptions } = {}
): Layer.Layer<SignedIn | FakeOAuthServer, HttpServerError.ServeError> => layerSignedIn(options).pipe(Layer.provideMerge(layerOAuth(options.server)))

/**
 * Signs a user in without HTTP: tokens from the fake issuer, written to the
 * store as the default profile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const signIn = Effect.gen(function*() {
  const tokens = yield* (yield* FakeOAuthServer).issueTokens()
  yield* (yield* TokenStore.TokenStore).set("default", tokens)
  return tokens
})
