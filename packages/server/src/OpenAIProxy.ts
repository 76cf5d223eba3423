/**
 * An OpenAI-compatible endpoint on this machine, backed by the signed-in
 * ChatGPT subscription: any OpenAI client works by changing its base URL.
 *
 * - `POST /v1/chat/completions` (streaming and not), `POST /v1/responses`
 *   (the Codex backend's own API, with its rules applied), `GET /v1/models`
 *   and `GET /v1/models/{id}` (the subscription's catalog). See
 *   {@link ChatCompletions} and {@link ResponsesApi} for the translation.
 * - `GET /v1/usage`: the subscription's limits now, from the backend's usage
 *   endpoint (`RateLimits.toJson`'s document with `fetchedAt`); and every
 *   answer to an authenticated request carries the latest limits seen as the
 *   backend's own rate-limit headers (`x-codex-primary-used-percent`, …, see
 *   {@link rateLimitHeaders}).
 * - Every request goes through the one `SubscriptionLLM` in context, so all
 *   clients share one token per profile, and a refresh is single-flight
 *   across all of them (the `TokenManager`'s guarantee).
 * - What `/v1/responses` answers is kept in an {@link ItemStore.ItemStore}
 *   (bounded), so that `item_reference`s and `previous_response_id` resolve:
 *   the backend stores nothing. What cannot be resolved is a 400 naming it,
 *   never dropped.
 * - {@link httpApp} is the same app over any `SubscriptionLLM`, to mount in
 *   another server (per user, with its own item-store owner).
 * - Listens on 127.0.0.1 by default. A non-loopback host is refused unless
 *   `network: "allow-remote"` says so explicitly, and then only with a key of
 *   at least {@link MIN_REMOTE_KEY_LENGTH} characters.
 * - Every request needs `Authorization: Bearer <apiKey>` (compared in
 *   constant time); no CORS headers unless origins are configured.
 * - Errors are OpenAI's error format with the status its SDKs expect
 *   (see {@link answerOf}). A streamed answer commits to status 200 only once
 *   the backend has produced output, so a usage limit or a refused request
 *   is a proper 429 or 400 for streaming clients too.
 * - When the scope closes (SIGINT, SIGTERM), new connections are refused,
 *   requests in flight get `shutdownGrace` to finish, and what remains is
 *   ended cleanly: a 503, or the stream's error event and a proper end.
 * - Nothing is logged that holds the key or a token.
 *
 * Longer than 650 lines: the app (routes, key check, drain), its options and
 * layers, and the answers of its errors belong to one server; the translations
 * are in `ChatCompletions` and `ResponsesApi`, the shared parts in `internal/`.
 *
 * @since 0.1.0
 */
import {
  type HttpApp,
  HttpMiddleware,
  HttpRouter,
  HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { BackendError, Provider, RateLimits, SubscriptionLLM } from "@subauth/core"
import {
  Chunk,
  Clock,
  Config,
  type ConfigError,
  Context,
  DateTime,
  Duration,
  Effect,
  Either,
  identity,
  Layer,
  Option,
  Record,
  Redacted,
  type Scope,
  Stream
} from "effect"
import { lookup } from "node:dns/promises"
import { createServer } from "node:http"
import * as ChatCompletions from "./ChatCompletions.js"
import * as Body from "./internal/body.js"
import type { Translation } from "./internal/body.js"
import * as Drain from "./internal/drain.js"
import * as References from "./internal/references.js"
import type { Encoder } from "./internal/sse.js"
import { type Answer, answerOf, type Failure, MIN_REMOTE_KEY_LENGTH, RequestError, StartError, toAnswer } from "./ProxyError.js"
import * as ItemStore from "./ItemStore.js"
import * as ResponsesApi from "./ResponsesApi.js"
import * as ServeKey from "./ServeKey.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HOST = "127.0.0.1"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORT = 8787

/**
 * How long requests in flight may take to finish when the server stops.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SHUTDOWN_GRACE: Duration.Duration = Duration.seconds(10)

/**
 * The largest request body read; a larger one is answered 413 without being
 * read further, and its connection closed.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BODY_BYTES = 10 * 1024 * 1024

/**
 * How deeply a request body's arrays and objects may nest (JSON Schemas of
 * tools included); deeper is a 400.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_JSON_DEPTH = 64

/**
 * Who may connect: only this machine (the default; a non-loopback host is
 * refused), or any host the server is bound to, which must be asked for.
 *
 * @since 0.1.0
 * @category models
 */
export type Network = "loopback-only" | "allow-remote"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The bearer key clients must send (see {@link ServeKey.resolve}). */
  readonly apiKey: Redacted.Redacted<string>
  /** Default {@link DEFAULT_HOST}. */
  readonly host?: string
  /** Default {@link DEFAULT_PORT}; 0 for any free port. */
  readonly port?: number
  /** Default `"loopback-only"`. */
  readonly network?: Network
  /** Origins allowed by CORS (`*` for any). Default none: no CORS headers, so browsers refuse cross-origin calls. */
  readonly cors?: ReadonlyArray<string>
  /** Default {@link DEFAULT_SHUTDOWN_GRACE}. */
  readonly shutdownGrace?: Duration.DurationInput
  /**
   * Whose earlier output `item_reference`s and `previous_response_id` may
   * name in the {@link ItemStore.ItemStore} (`subauth serve` gives the
   * profile). Default `"default"`.
   */
  readonly itemOwner?: string
}

/**
 * How the HTTP app of the proxy serves, wherever it is mounted.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppOptions {
  /** Whose earlier output, in the {@link ItemStore.ItemStore}, the requests of this app may refer to. */
  readonly owner: string
  /** When given, every request needs `Authorization: Bearer <apiKey>` (compared in constant time). */
  readonly apiKey?: Redacted.Redacted<string>
  /** Origins allowed by CORS (`*` for any). Default none. */
  readonly cors?: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace OpenAIProxy {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `http://<host>:<port>`; clients use `<url>/v1` as their base URL. */
    readonly url: string
    readonly host: string
    readonly port: number
  }
}

/**
 * The running proxy.
 *
 * @since 0.1.0
 * @category tags
 */
export class OpenAIProxy extends Context.Tag("@subauth/server/OpenAIProxy")<OpenAIProxy, OpenAIProxy.Service>() {}

// =============================================================================
// Exposure (pure)
// =============================================================================

/**
 * Whether `host` only ever reaches this machine: `localhost` (which the proxy
 * resolves and checks), or a literal loopback address (`127.0.0.0/8` in
 * dotted decimal, `::1`, IPv4-mapped loopback); nothing is trimmed. The same
 * test as the provider's loopback rule (`Provider.isLoopback`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLoopback: (host: string) => boolean = Provider.isLoopback

/**
 * Refuses a non-loopback host unless remote access was asked for, and then a
 * key shorter than {@link MIN_REMOTE_KEY_LENGTH} characters; and a key that
 * cannot travel in a header anywhere.
 *
 * @since 0.1.0
 * @category utils
 */
export const checkExposure = (options: Pick<Options, "apiKey" | "host" | "port" | "network">): Either.Either<void, StartError> =>
  Either.gen(function*() {
    const key = yield* ServeKey.validate(options.apiKey)
    const host = options.host ?? DEFAULT_HOST
    if (isLoopback(host)) return
    const location = `${host}:${options.port ?? DEFAULT_PORT}`
    if (options.network !== "allow-remote") return yield* Either.left(new StartError({ reason: "RemoteNotAllowed", location }))
    const length = Redacted.value(key).length
    if (length < MIN_REMOTE_KEY_LENGTH) {
      return yield* Either.left(new StartError({ reason: "WeakKey", location, description: `it has ${length} characters` }))
    }
  })

/**
 * Refuses a bound address that is not a loopback address, unless remote
 * access was asked for: the check of what was actually bound, after the
 * check of what was asked for ({@link checkExposure}).
 *
 * @since 0.1.0
 * @category utils
 */
export const checkBound = (
  address: HttpServer.Address,
  network: Network,
  location: string
): Either.Either<void, StartError> => {
  if (network === "allow-remote") return Either.void
  if (address._tag === "TcpAddress" && isLoopback(address.hostname)) return Either.void
  const bound = address._tag === "TcpAddress" ? address.hostname : address.path
  return Either.left(new StartError({ reason: "RemoteNotAllowed", location, description: `it was bound to ${bound}` }))
}

// =============================================================================
// The HTTP app
// =============================================================================

/**
 * The header that says when the limits in the other rate-limit headers were
 * seen (ISO 8601): they are the latest the proxy saw, from an earlier answer
 * of the backend or from this one.
 *
 * @since 0.1.0
 * @category constants
 */
export const RATE_LIMITS_SEEN_AT_HEADER = "x-subauth-rate-limits-seen-at"

/**
 * The latest limits as headers of the proxy's answers: the backend's own
 * rate-limit headers (`RateLimits.toHeaders`: `x-codex-primary-used-percent`,
 * `x-codex-primary-window-minutes`, `x-codex-primary-reset-at` in unix
 * seconds, the same for `secondary`, `x-codex-credits-*`, `x-codex-plan-type`,
 * `x-codex-active-limit`, `x-codex-limit-name`, and `x-<family>-…` for other
 * limit families), and {@link RATE_LIMITS_SEEN_AT_HEADER}. None before the
 * backend has said anything.
 *
 * @since 0.1.0
 * @category utils
 */
export const rateLimitHeaders = (snapshot: Option.Option<SubscriptionLLM.RateLimitsSnapshot>): Record<string, string> =>
  Option.match(snapshot, {
    onNone: () => ({}),
    onSome: ({ limits, seenAt }) => ({ ...RateLimits.toHeaders(limits), [RATE_LIMITS_SEEN_AT_HEADER]: DateTime.formatIso(seenAt) })
  })

// What a browser page may read of an answer, with CORS: the fixed names of the rate-limit headers.
const EXPOSED_RATE_LIMIT_HEADERS = [
  ...["primary", "secondary"].flatMap((w) => ["used-percent", "window-minutes", "reset-at"].map((f) => `x-codex-${w}-${f}`)),
  "x-codex-credits-has-credits",
  "x-codex-credits-unlimited",
  "x-codex-credits-balance",
  "x-codex-plan-type",
  "x-codex-active-limit",
  "x-codex-limit-name",
  RATE_LIMITS_SEEN_AT_HEADER
]

const isContent = (event: SubscriptionLLM.Event) => event._tag !== "RateLimits" && event._tag !== "Created"

/**
 * Pulls events until the first that is output (or the end), so that a failure
 * before any output is answered with its own status instead of a 200 stream.
 */
const peek = <E>(pull: Effect.Effect<Chunk.Chunk<SubscriptionLLM.Event>, Option.Option<E>>) =>
  Effect.gen(function*() {
    const events: Array<SubscriptionLLM.Event> = []
    for (;;) {
      const chunk = yield* Effect.either(pull)
      if (Either.isLeft(chunk)) {
        if (Option.isNone(chunk.left)) return { events, ended: true }
        return yield* Effect.fail(chunk.left.value)
      }
      events.push(...chunk.right)
      if (Chunk.some(chunk.right, isContent)) return { events, ended: false }
    }
  })

const encoderText = new TextEncoder()

interface Frame {
  readonly text: string
  /** The stream's last frame: its end, or its failure. */
  readonly last: boolean
}

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const randomId = () => globalThis.crypto.randomUUID().replaceAll("-", "")

const logDropped = (dropped: ReadonlyArray<string>) =>
  Effect.forEach(dropped, (name) =>
    Effect.logDebug(`dropped "${name}": the ChatGPT subscription backend does not take it (accepted, not forwarded)`), {
    discard: true
  })

const readJson = Body.readJson({ maxBytes: MAX_BODY_BYTES, maxDepth: MAX_JSON_DEPTH })

const modelObject = (model: SubscriptionLLM.ModelInfo) => ({ id: model.slug, object: "model", created: 0, owned_by: "openai" })

// A model the backend does not serve is the client's mistake about the model: OpenAI's 404 `model_not_found`.
const unknownModel = (model: string) => <E>(error: E): E | RequestError =>
  error instanceof BackendError.ResponseError && error.reason === "ModelNotFound"
    ? new RequestError({ reason: "UnknownModel", param: "model", description: `"${model}"` })
    : error

// The items of a turn are kept as they come (a client may refer to any it was sent); the response when it ends.
const remembering = (
  events: Stream.Stream<SubscriptionLLM.Event, SubscriptionLLM.SubscriptionLLM.Error | RequestError>,
  store: ItemStore.ItemStore.Service,
  owner: string,
  finish: (responseId: string, output: ReadonlyArray<SubscriptionLLM.Item>) => Effect.Effect<void>
) =>
  Stream.suspend(() => {
    const output: Array<SubscriptionLLM.Item> = []
    return Stream.tap(events, (event) => {
      switch (event._tag) {
        case "ItemDone":
          output.push(event.item)
          return store.remember(owner, [event.item])
        case "Completed":
        case "Incomplete":
          return finish(event.responseId, output)
        default:
          return Effect.void
      }
    })
  })

const makeApp = (llm: SubscriptionLLM.SubscriptionLLM.Service, options: AppOptions, drain: Drain.Drain) => {
  const errorResponse = (answerAt: (now: number) => Answer) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const answer = answerAt(now)
      return HttpServerResponse.unsafeJson({ error: answer.error }, { status: answer.status, headers: answer.headers })
    })

  // A streamed answer: status 200 once there is output; failures after that are the API's error event.
  const streamed = (events: Stream.Stream<SubscriptionLLM.Event, SubscriptionLLM.SubscriptionLLM.Error | RequestError>, encoder: Encoder) =>
    Effect.gen(function*() {
      const pull = yield* Stream.toPull(events)
      const head = yield* drain.guard(peek(pull))
      let ended = false
      const failure = (error: Failure) =>
        Effect.map(Clock.currentTimeMillis, (now): Frame => ({ text: encoder.failure(answerOf(error, now).error), last: true }))
      // A chunk of events is one frame and one write: per-event writes cost more than the encoding.
      const body = Stream.fromIterable(head.events).pipe(
        Stream.concat(head.ended ? Stream.empty : Stream.repeatEffectChunkOption(pull)),
        Stream.mapChunks((events) => Chunk.of<Frame>({ text: Chunk.reduce(events, "", (text, e) => text + encoder.event(e)), last: false })),
        Stream.concat(Stream.sync((): Frame => ({ text: encoder.end(), last: true }))),
        Stream.catchAll((error) =>
          Stream.fromEffect(Effect.zipRight(Effect.logWarning(`the stream failed after it started: ${error.message}`), failure(error)))
        ),
        Stream.interruptWhenDeferred(drain.cut),
        Stream.concat(Stream.suspend(() =>
          ended ? Stream.empty : Stream.fromEffect(failure(Drain.shuttingDown("the stream was cut off at the end of the grace period")))
        )),
        Stream.mapChunks((frames) => {
          let text = ""
          for (const frame of frames) {
            text += frame.text
            ended = ended || frame.last
          }
          return text === "" ? Chunk.empty() : Chunk.of(encoderText.encode(text))
        })
      )
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      })
    })

  // One turn: translate, then the collected answer, or the stream.
  const turn = <T extends Translation>(
    translate: (json: unknown) => Either.Either<T, RequestError>,
    answers: (translated: T, created: number) => Effect.Effect<{
      readonly request: SubscriptionLLM.Request
      readonly collected: (result: SubscriptionLLM.Result) => Effect.Effect<unknown>
      readonly events: (
        events: Stream.Stream<SubscriptionLLM.Event, SubscriptionLLM.SubscriptionLLM.Error | RequestError>
      ) => Stream.Stream<SubscriptionLLM.Event, SubscriptionLLM.SubscriptionLLM.Error | RequestError>
      readonly encoder: () => Encoder
    }, RequestError, ItemStore.ItemStore>
  ) =>
    Effect.gen(function*() {
      const translated = yield* translate(yield* readJson)
      yield* logDropped(translated.dropped)
      const { collected, encoder, events, request } = yield* answers(translated, yield* nowSeconds)
      const model = unknownModel(translated.request.model)
      if (translated.stream) return yield* streamed(events(Stream.mapError(llm.stream(request), model)), encoder())
      const result = yield* drain.guard(Effect.mapError(llm.generate(request), model))
      return HttpServerResponse.unsafeJson(yield* collected(result))
    })

  const chatCompletions = turn(ChatCompletions.translate, (translated, created) => {
    const meta: ChatCompletions.Meta = { id: `chatcmpl-${randomId()}`, created, model: translated.request.model }
    return Effect.succeed({
      request: translated.request,
      collected: (result: SubscriptionLLM.Result) => Effect.succeed(ChatCompletions.completionOf(result, meta)),
      events: identity,
      encoder: () => ChatCompletions.encoder(meta, translated)
    })
  })

  // References to earlier output are resolved from the item store; what this turn answers is kept there.
  const responses = turn(ResponsesApi.translate, (translated, createdAt) =>
    Effect.gen(function*() {
      const store = yield* ItemStore.ItemStore
      const previousResponseId = translated.previousResponseId
      const input = yield* References.resolveItems(store, options.owner, translated.request.input)
      const earlier = previousResponseId !== undefined ? yield* References.history(store, options.owner, previousResponseId) : []
      const meta: ResponsesApi.Meta = {
        id: `resp_${randomId()}`,
        createdAt,
        model: translated.request.model,
        echo: translated.echo,
        previousResponseId
      }
      const finish = (responseId: string, output: ReadonlyArray<SubscriptionLLM.Item>) =>
        store.rememberResponse(options.owner, { id: ResponsesApi.responseIdOf(responseId, meta), previousResponseId, input, output })
      return {
        request: { ...translated.request, input: [...earlier, ...input] },
        collected: (result: SubscriptionLLM.Result) =>
          Effect.as(
            Effect.zipRight(store.remember(options.owner, result.items), finish(result.responseId, result.items)),
            ResponsesApi.responseOf(result, meta)
          ),
        events: (events: Stream.Stream<SubscriptionLLM.Event, SubscriptionLLM.SubscriptionLLM.Error | RequestError>) =>
          remembering(events, store, options.owner, finish),
        encoder: () => ResponsesApi.encoder(meta)
      }
    }))

  const models = Effect.map(
    drain.guard(llm.models),
    (list) => HttpServerResponse.unsafeJson({ object: "list", data: list.models.map(modelObject) })
  )

  const model = Effect.gen(function*() {
    const { model: id } = yield* HttpRouter.params
    const list = yield* drain.guard(llm.models)
    const found = list.models.find((m) => m.slug === id)
    if (found === undefined) {
      return yield* new RequestError({ reason: "UnknownModel", param: "model", description: `"${id ?? ""}"` })
    }
    return HttpServerResponse.unsafeJson(modelObject(found))
  })

  // Live, from the backend's usage endpoint; a failure is answered as any other (502 when it cannot be reached).
  const usage = Effect.gen(function*() {
    const report = yield* drain.guard(llm.usage)
    const now = yield* DateTime.now
    return HttpServerResponse.unsafeJson({ fetchedAt: DateTime.formatIso(report.fetchedAt), ...RateLimits.toJson(report, now) })
  })

  const router = HttpRouter.empty.pipe(
    HttpRouter.post("/v1/chat/completions", chatCompletions),
    HttpRouter.post("/v1/responses", responses),
    HttpRouter.get("/v1/models", models),
    HttpRouter.get("/v1/models/:model", model),
    HttpRouter.get("/v1/usage", usage)
  )

  const apiKey = options.apiKey
  const app = Effect.suspend(() => {
    // Only a caller with the key is told where the subscription's limits stand.
    let authenticated = false
    return Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const presented = ServeKey.bearer(request.headers["authorization"])
      if (apiKey !== undefined && (Option.isNone(presented) || !ServeKey.matches(apiKey, presented.value))) {
        return yield* new RequestError({
          reason: "InvalidApiKey",
          description: Option.isNone(presented) ? "no API key was sent" : "the API key is not this server's"
        })
      }
      authenticated = true
      yield* drain.enter
      return yield* router
    }).pipe(
      Effect.catchTag("RouteNotFound", (error: HttpServerError.RouteNotFound) =>
        Effect.fail(new RequestError({ reason: "NotFound", description: `${error.request.method} ${error.request.url}` }))),
      Effect.catchAll((error) =>
        Effect.zipRight(
          Effect.logWarning(`request failed: ${error.message}`),
          errorResponse((now) => answerOf(error, now))
        )
      ),
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          Effect.logError(
            `unexpected failure: ${defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect}`
          ),
          errorResponse((now) => toAnswer(defect, now))
        )
      ),
      // The limits as they stand after this request (a turn's own answer has updated them by now).
      Effect.flatMap((response) =>
        authenticated
          ? Effect.map(llm.lastRateLimits, (snapshot) => HttpServerResponse.setHeaders(response, rateLimitHeaders(snapshot)))
          : Effect.succeed(response)
      )
    )
  }).pipe(
    // A body left unread (too large, refused, or not wanted) stays unread, and its connection is closed.
    Effect.tap(() => Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => Effect.sync(() => Body.closeAfterAnswer(request)))),
    Effect.tap((response) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.logInfo(`${request.method} ${new URL(request.url, "http://proxy").pathname} ${response.status}`))
    ),
    // The platform runs handlers uninterruptibly; a client that hangs up should stop its backend request.
    Effect.interruptible,
    Effect.annotateLogs({ service: "subauth-proxy" })
  )

  return options.cors !== undefined && options.cors.length > 0
    ? HttpMiddleware.cors({
      allowedOrigins: options.cors,
      allowedMethods: ["GET", "POST"],
      exposedHeaders: ["retry-after", "x-should-retry", ...EXPOSED_RATE_LIMIT_HEADERS],
      maxAge: 600
    })(app)
    : app
}

/**
 * The proxy's HTTP app over `llm`, to mount in a server of your own (the
 * same handlers `subauth serve` runs): OpenAI's endpoints under `/v1`,
 * errors in OpenAI's format. References to earlier output resolve in the
 * {@link ItemStore.ItemStore} in context, as `options.owner`'s; with
 * `apiKey`, every request needs it. Draining on shutdown is the mounting
 * server's business; {@link make} does it for its own.
 *
 * ```ts
 * // per request, with that user's SubscriptionLLM and item-store owner:
 * OpenAIProxy.httpApp(userLlm, { owner: `user:${userId}` })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpApp = (
  llm: SubscriptionLLM.SubscriptionLLM.Service,
  options: AppOptions
): HttpApp.Default<never, ItemStore.ItemStore | HttpServerRequest.HttpServerRequest | Scope.Scope> =>
  makeApp(llm, options, Drain.unmanaged)

// =============================================================================
// Constructors and layers
// =============================================================================

const startFailed = (location: string) => (error: HttpServerError.ServeError) => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return code === "EADDRINUSE"
    ? new StartError({ reason: "AddressInUse", location, cause: error.cause })
    : new StartError({
      reason: "BindFailed",
      location,
      ...(typeof code === "string" ? { description: code } : {}),
      cause: error.cause
    })
}

/**
 * Starts the proxy in the current scope; closing the scope shuts it down
 * gracefully. Earlier output is kept in the {@link ItemStore.ItemStore} in
 * context, if there is one, else in a memory store of the default size
 * (`ItemStore.layerMemory()`), for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<OpenAIProxy.Service, StartError, SubscriptionLLM.SubscriptionLLM | Scope.Scope> =>
  Effect.gen(function*() {
    yield* checkExposure(options)
    const host = options.host ?? DEFAULT_HOST
    const port = options.port ?? DEFAULT_PORT
    const grace = Duration.decode(options.shutdownGrace ?? DEFAULT_SHUTDOWN_GRACE)
    const llm = yield* SubscriptionLLM.SubscriptionLLM
    const drain = Drain.make()
    // `localhost` is a name: it is resolved, and refused unless every address it has stays on this machine.
    if (options.network !== "allow-remote" && host.toLowerCase() === "localhost") {
      const addresses = yield* Effect.tryPromise(() => lookup(host, { all: true })).pipe(
        Effect.mapError((cause) => new StartError({ reason: "BindFailed", location: `${host}:${port}`, description: "it does not resolve", cause }))
      )
      const remote = addresses.find((a) => !isLoopback(a.address))
      if (remote !== undefined) {
        return yield* new StartError({ reason: "RemoteNotAllowed", location: `${host}:${port}`, description: `it resolves to ${remote.address}` })
      }
    }
    const node = createServer()
    const server = yield* NodeHttpServer.make(() => node, { port, host }).pipe(
      Effect.mapError(startFailed(`${host}:${port}`))
    )
    // What counts is the address actually bound, whatever the host said.
    yield* checkBound(server.address, options.network ?? "loopback-only", `${host}:${port}`)
    const store = Option.getOrElse(yield* Effect.serviceOption(ItemStore.ItemStore), () => ItemStore.makeMemory())
    const app = makeApp(llm, {
      owner: options.itemOwner ?? "default",
      apiKey: options.apiKey,
      ...(options.cors !== undefined ? { cors: options.cors } : {})
    }, drain)
    yield* HttpServer.serveEffect()(Effect.provideService(app, ItemStore.ItemStore, store)).pipe(
      Effect.provideService(HttpServer.HttpServer, server)
    )
    // Added last, so it runs first: drain while the handlers are still installed.
    yield* Effect.addFinalizer(() => drain.shutdown(node, grace))
    const address = server.address
    const bound = address._tag === "TcpAddress" ? address.port : port
    const url = `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${bound}`
    yield* Effect.logInfo(`listening on ${url}`)
    return { url, host, port: bound }
  }).pipe(Effect.annotateLogs({ service: "subauth-proxy" }))

/**
 * The proxy, running for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<OpenAIProxy, StartError, SubscriptionLLM.SubscriptionLLM> =>
  Layer.scoped(OpenAIProxy, make(options))

/**
 * Options read through `Config`, once, when the layer is built; an optional
 * one whose config is not set keeps its default:
 *
 * ```ts
 * OpenAIProxy.layerConfig({
 *   apiKey: Config.redacted("SUBAUTH_SERVE_KEY"),
 *   port: Config.port("SUBAUTH_SERVE_PORT")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: {
  readonly apiKey: Config.Config<Redacted.Redacted<string>>
} & {
  readonly [K in "host" | "port" | "network" | "cors" | "shutdownGrace" | "itemOwner"]?: Config.Config<NonNullable<Options[K]>>
}): Layer.Layer<OpenAIProxy, StartError | ConfigError.ConfigError, SubscriptionLLM.SubscriptionLLM> => {
  const { apiKey, ...rest } = options
  return Layer.unwrapEffect(
    Effect.map(
      Config.all([apiKey, Config.all(Record.map(rest as Record<string, Config.Config<unknown>>, Config.option))]),
      ([key, values]) => layer({ ...(Record.getSomes(values) as Omit<Options, "apiKey">), apiKey: key })
    )
  )
}
