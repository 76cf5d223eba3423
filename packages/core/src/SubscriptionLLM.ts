/**
 * The ChatGPT Codex backend as a service: a model turn on the signed-in
 * subscription, streamed as typed events.
 *
 * - Requests are made exactly as Codex CLI 0.169 makes them (fixture
 *   `backend-responses-request.json`): `POST {base}/responses` with the
 *   subscription's bearer token, `chatgpt-account-id`, `originator`,
 *   `session-id` and `accept: text/event-stream`; a body with `stream: true`,
 *   `store: false`, input items without ids, and `include:
 *   ["reasoning.encrypted_content"]` when reasoning is on. System prompts travel
 *   as `developer` messages. Sampling parameters the backend rejects
 *   (`temperature`, `max_output_tokens`, …) are dropped, with a debug line.
 * - Every request takes a valid token from the {@link TokenManager}; a 401
 *   asks it to recover (re-read or refresh) and the request is made once more.
 * - 5xx and transport failures before the stream starts are retried with
 *   bounded backoff; a usage limit (429 `usage_limit_reached`) is not, and
 *   says when the limit resets. Once events flow nothing is retried: a stream
 *   that ends before `response.completed` fails, it is never a short answer.
 *   An answer the backend itself ends early (`response.incomplete`, e.g. at
 *   its output limit) is an answer: the `Incomplete` event, and
 *   `Result.incomplete` with the reason.
 * - Input the backend cannot take with `store: false` (an `item_reference`,
 *   reasoning without `encrypted_content`) is refused, never left out.
 * - `generate` collects the final items from `response.output_item.done`; the
 *   backend's `response.completed` may carry an empty `output`.
 * - `usage` asks the usage endpoint (`GET {chatgpt_base_url}/wham/usage`)
 *   where the limits stand, without spending a model request;
 *   `lastRateLimits` is the latest the service saw (every answer's headers
 *   say it), and `onRateLimits` hears of each, to keep it.
 *
 * Platform-free: any `HttpClient` will do.
 *
 * The wire format is {@link CodexWire}, the errors {@link BackendError}; the
 * pure parts (request body, answers, events) are in `internal/` and
 * re-exported here. Longer than 650 lines because the service's domain models
 * (`Request`, `Event`, `Result`, `ModelInfo`, the rate-limit aliases, …:
 * about 300 lines, mostly their documentation) stay next to the Tag that uses
 * them, and `make` holds the three requests (turn, models, usage) over one
 * authorized client.
 *
 * @see protocol.md §5, §9
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Record from "effect/Record"
import * as Ref from "effect/Ref"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { identity } from "effect/Function"
import { TransportError } from "./AuthError.js"
import { ResponseError, UsageLimitReached } from "./BackendError.js"
import * as CodexWire from "./CodexWire.js"
import {
  assistantMessage,
  developerMessage,
  functionCallOutput,
  FunctionCallItem,
  FunctionTool,
  Item,
  MessageItem,
  ModelsResponse,
  ResponsesRequest,
  userMessage
} from "./CodexWire.js"
import { classifyAnswer, rateLimitsOf, streamFailure, toModelInfo } from "./internal/answers.js"
import { collect, decodeEvents } from "./internal/events.js"
import { usageReportOf, usageUrlOf } from "./internal/usage.js"
import * as RateLimitsModule from "./RateLimits.js"
import { describeTransport, execute, formatBytes, readBody } from "./internal/http.js"
import { buildBody, type Defaults, UNSUPPORTED_PARAMETERS, unsendable } from "./internal/request.js"
import { MAX_ERROR_BODY_BYTES, MAX_MODELS_BYTES, MAX_USAGE_BYTES } from "./Limits.js"
import { ORIGINATOR, USER_AGENT as SUBAUTH_USER_AGENT } from "./internal/version.js"
import { checkBaseUrl, type ProviderError } from "./Provider.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import { TokenManager } from "./TokenManager.js"
import type * as TokenSet from "./TokenSet.js"

// =============================================================================
// Constants
// =============================================================================

/**
 * Where the Codex backend lives for ChatGPT sign-ins (protocol.md §5.1).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://chatgpt.com/backend-api/codex"

/**
 * Where the usage endpoint lives for ChatGPT sign-ins (protocol.md §5.1):
 * `usageUrlOf(DEFAULT_BASE_URL)`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_USAGE_URL = "https://chatgpt.com/backend-api/wham/usage"

/**
 * The `originator` header the reference clients send (protocol.md §5.2).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ORIGINATOR = ORIGINATOR

/**
 * The model of the captured Codex CLI 0.169 request.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "gpt-5.5"

/**
 * Sent as `client_version` to `GET /models`: the Codex CLI version whose
 * protocol this client follows (the backend filters its catalog by it).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CLIENT_VERSION = "0.169.0"

/**
 * How long a request waits for the answer's status and headers.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.seconds(60)

/**
 * The longest silence between two events of a stream (codex-rs's
 * `stream_idle_timeout_ms`).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = Duration.minutes(5)

/**
 * The longest a stream may take in all, from its headers to its end.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_STREAM_TIMEOUT: Duration.Duration = Duration.minutes(30)

/**
 * `subauth/<version>`.
 *
 * @since 0.1.0
 * @category constants
 */
export const USER_AGENT = SUBAUTH_USER_AGENT

/**
 * The header names that must never be printed: added to
 * `Headers.currentRedactedNames` while the service works.
 *
 * @since 0.1.0
 * @category constants
 */
export const REDACTED_HEADERS: ReadonlyArray<string> = ["authorization", "chatgpt-account-id"]

// =============================================================================
// Errors, wire schemas and pure decoding, from their own modules
// =============================================================================

/**
 * The backend's errors; see {@link BackendError}.
 *
 * @since 0.1.0
 * @category errors
 */
export { ResponseError, UsageLimitReached }

/**
 * The wire schemas this service sends and reads; see {@link CodexWire}.
 *
 * @since 0.1.0
 * @category schemas
 */
export { FunctionCallItem, FunctionTool, Item, MessageItem, ModelsResponse, ResponsesRequest }

/**
 * What answers mean (pure): `rateLimitsOf(headers, now)` reads the rate-limit
 * headers of any answer; `classifyAnswer(endpoint, answer, now, secrets)` the
 * error a non-2xx answer stands for (401 is `"Unauthorized"`: recover and try
 * once more; 5xx and 408 are `TransportError`s, which are retried);
 * `streamFailure(error, now, secrets)` the error of a `response.failed`.
 *
 * @see protocol.md §5.4 to §5.6
 * @since 0.1.0
 * @category utils
 */
export { classifyAnswer, rateLimitsOf, streamFailure }

/**
 * The usage endpoint (pure): `usageReportOf(json, now)` reads its answer into
 * a {@link UsageReport} (every part may be missing; `undefined` when the body
 * is not a JSON object); `usageUrlOf(baseUrl)` is where it is for a Codex
 * base URL (`…/backend-api/codex` gives `…/backend-api/wham/usage`).
 *
 * @see protocol.md §5.1
 * @since 0.1.0
 * @category utils
 */
export { usageReportOf, usageUrlOf }

/**
 * The items of a turn's `input`: `userMessage(text)`, `developerMessage(text)`,
 * `assistantMessage(text)`, and `functionCallOutput(callId, output)` to answer
 * a {@link ToolCall}.
 *
 * @since 0.1.0
 * @category constructors
 */
export { assistantMessage, developerMessage, functionCallOutput, userMessage }

/**
 * `buildBody(request, defaults)`: the request body for `request`, and what
 * was left out: unsupported parameters (by wire name, see
 * `UNSUPPORTED_PARAMETERS`), and input items that cannot be sent with
 * `store: false` (`item_reference`s, reasoning without `encrypted_content`;
 * `unsendable(item)` says why, and `stream` refuses a request with one rather
 * than lose part of the conversation). Item ids are stripped: nothing is
 * stored server-side, so an id can only point at nothing ("Item with id … not
 * found"). Pure.
 *
 * @see protocol.md §5.3
 * @since 0.1.0
 * @category constructors
 */
export { buildBody, type Defaults, UNSUPPORTED_PARAMETERS, unsendable }

/**
 * `decodeEvents(bytes)` decodes the body of a `/responses` answer into
 * events, up to and including `Completed` (a body that ends before
 * `response.completed` fails with `ResponseError("StreamClosed")`);
 * `collect(events)` folds a turn's events into its {@link Result}.
 *
 * @see protocol.md §5.5
 * @since 0.1.0
 * @category utils
 */
export { collect, decodeEvents }

// =============================================================================
// Domain models
// =============================================================================

/**
 * @since 0.1.0
 * @category models
 */
export type ReasoningEffort = typeof CodexWire.ReasoningEffort.Type

/**
 * Reasoning settings: `effort`, and `summary` to have reasoning summaries
 * streamed.
 *
 * @since 0.1.0
 * @category models
 */
export type Reasoning = typeof CodexWire.Reasoning.Type

/**
 * A function the model may call. `parameters` is a JSON Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool {
  readonly name: string
  readonly description?: string
  readonly parameters: unknown
  /** Default `false`, as Codex sends its own tools. */
  readonly strict?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export type ToolChoice = typeof CodexWire.ToolChoice.Type

/**
 * One model turn. `input` holds items in the backend's shape (see
 * {@link userMessage} and friends, or items from an earlier {@link Result});
 * their ids are stripped before sending.
 *
 * The sampling fields at the end are accepted so that code written for the
 * API-key Responses API runs unchanged, and dropped: the subscription backend
 * answers "Unsupported parameter" to every one of them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly input: ReadonlyArray<Item>
  /** Default: the service's model. */
  readonly model?: string
  /** Sent as `developer` messages before `input`, as Codex CLI 0.169 sends its prompts. */
  readonly system?: string | ReadonlyArray<string>
  /** Top-level `instructions` (older clients sent the model's base instructions here). */
  readonly instructions?: string
  readonly tools?: ReadonlyArray<Tool>
  /** Default `"auto"`. */
  readonly toolChoice?: ToolChoice
  /** Default `true`. */
  readonly parallelToolCalls?: boolean
  /** `null` turns reasoning off. Default: the service's (`{ effort: "medium" }`). */
  readonly reasoning?: Reasoning | null
  readonly text?: typeof CodexWire.TextOptions.Type
  readonly serviceTier?: "priority" | "flex"
  /**
   * Sent as `prompt_cache_key` and `session-id`: 1 to 256 visible ASCII
   * characters (see `CodexWire.SessionId`). Default: the service's session id.
   */
  readonly conversationId?: string
  readonly temperature?: number
  readonly topP?: number
  readonly maxOutputTokens?: number
  readonly maxCompletionTokens?: number
  readonly presencePenalty?: number
  readonly frequencyPenalty?: number
  readonly seed?: number
  readonly topLogprobs?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly reasoningTokens: number
  readonly totalTokens: number
}

/**
 * The rate-limit models, from {@link RateLimits} (where their JSON forms
 * are): `RateLimitWindow`, `RateLimits` (what the headers of every answer say,
 * the `codex` family's windows and `others`), `OtherRateLimit`, `Credits`,
 * `UsageReport` (what {@link SubscriptionLLM.Service.usage} returns) and
 * `RateLimitsSnapshot` (the latest seen, with when and where).
 *
 * @see protocol.md §5.1, §5.4
 * @since 0.1.0
 * @category models
 */
export type RateLimitWindow = RateLimitsModule.RateLimitWindow

/**
 * @since 0.1.0
 * @category models
 */
export type RateLimits = RateLimitsModule.RateLimits

/**
 * @since 0.1.0
 * @category models
 */
export type OtherRateLimit = RateLimitsModule.OtherRateLimit

/**
 * @since 0.1.0
 * @category models
 */
export type Credits = RateLimitsModule.Credits

/**
 * @since 0.1.0
 * @category models
 */
export type UsageReport = RateLimitsModule.UsageReport

/**
 * @since 0.1.0
 * @category models
 */
export type RateLimitsSnapshot = RateLimitsModule.Snapshot

/**
 * A function call the model made. `arguments` is the JSON string it wrote.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly callId: string
  readonly name: string
  readonly arguments: string
}

/**
 * Why the backend ended a turn early (`response.incomplete`): its
 * `incomplete_details.reason`, such as `"max_output_tokens"` or
 * `"content_filter"`; `undefined` when it did not say.
 *
 * @since 0.1.0
 * @category models
 */
export interface Incomplete {
  readonly reason: string | undefined
}

/**
 * What a turn streams, in order: `RateLimits` (from the headers), `Created`,
 * deltas, `ItemDone` for each finished item (`ToolCall` right after a function
 * call's), and last `Completed`, or `Incomplete` when the backend stopped the
 * answer early (`response.incomplete`): what came before it is the answer,
 * cut short, not an error.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  RateLimits: { readonly limits: RateLimits }
  Created: { readonly responseId: string; readonly model: string | undefined }
  TextDelta: { readonly itemId: string | undefined; readonly delta: string }
  ReasoningSummaryDelta: { readonly itemId: string | undefined; readonly summaryIndex: number; readonly delta: string }
  ItemDone: { readonly item: Item }
  ToolCall: { readonly call: ToolCall }
  Completed: { readonly responseId: string; readonly usage: Usage | undefined }
  Incomplete: { readonly responseId: string; readonly usage: Usage | undefined; readonly reason: string | undefined }
}>

/**
 * Constructors and matchers of {@link Event}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A finished turn: the output items (to append to the next turn's input), and
 * what they say.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly responseId: string
  /** The model that answered, as `response.created` named it. */
  readonly model?: string
  /** The items of every `response.output_item.done`, in order. */
  readonly items: ReadonlyArray<Item>
  /** The assistant's text, all messages joined. */
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly usage?: Usage
  readonly rateLimits?: RateLimits
  /** Set when the backend ended the answer early (`response.incomplete`): `items` and `text` are what came. */
  readonly incomplete?: Incomplete
}

/**
 * A model of the catalog.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelInfo {
  readonly slug: string
  readonly displayName: string
  readonly contextWindow?: number
  readonly defaultReasoningEffort?: string
  readonly reasoningEfforts: ReadonlyArray<string>
  readonly supportsReasoningSummaries: boolean
  readonly supportsVerbosity: boolean
  readonly supportsParallelToolCalls: boolean
  readonly baseInstructions?: string
}

/**
 * The catalog, and whether it came from the backend or from the bundled list.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelList {
  readonly source: "backend" | "bundled"
  readonly models: ReadonlyArray<ModelInfo>
}

const bundled = (slug: string, displayName: string): ModelInfo => ({
  slug,
  displayName,
  defaultReasoningEffort: "medium",
  reasoningEfforts: ["low", "medium", "high"],
  supportsReasoningSummaries: true,
  supportsVerbosity: true,
  supportsParallelToolCalls: true
})

/**
 * Used when `GET /models` fails: the slugs the Codex backend served to
 * ChatGPT sign-ins when this version was made (protocol.md §5.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const BUNDLED_MODELS: ReadonlyArray<ModelInfo> = [
  bundled("gpt-5.5", "GPT-5.5"),
  bundled("gpt-5.4", "GPT-5.4"),
  bundled("gpt-5.4-mini", "GPT-5.4 mini"),
  bundled("gpt-5.3-codex", "GPT-5.3 Codex"),
  bundled("gpt-5.2", "GPT-5.2")
]

// =============================================================================
// Service
// =============================================================================

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace SubscriptionLLM {
  /**
   * @since 0.1.0
   * @category models
   */
  export type Error = UsageLimitReached | ResponseError | TransportError | TokenManager.Error

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The default conversation id of this service (`prompt_cache_key`, `session-id`). */
    readonly sessionId: string
    /** One turn, as it streams. */
    readonly stream: (request: Request) => Stream.Stream<Event, Error>
    /** One turn, collected. */
    readonly generate: (request: Request) => Effect.Effect<Result, Error>
    /** The model catalog; the bundled list when the backend cannot be asked. */
    readonly models: Effect.Effect<ModelList>
    /**
     * The subscription's limits now, from the usage endpoint (no model
     * request is spent): the 5-hour and weekly windows, credits, plan, other
     * families. Asked with the same sign-in as a turn (a 401 recovers once);
     * what it says becomes the latest snapshot too.
     */
    readonly usage: Effect.Effect<UsageReport, Error>
    /**
     * The latest limits this service saw, in the headers of any answer of
     * the backend or from {@link usage}, with when; none before the first.
     */
    readonly lastRateLimits: Effect.Effect<Option.Option<RateLimitsSnapshot>>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SubscriptionLLM extends Context.Tag("@subauth/core/SubscriptionLLM")<
  SubscriptionLLM,
  SubscriptionLLM.Service
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default {@link DEFAULT_BASE_URL}. */
  readonly baseUrl?: string
  /**
   * The usage endpoint. Default: derived from `baseUrl` (`usageUrlOf`), so
   * {@link DEFAULT_USAGE_URL} for the default base.
   */
  readonly usageUrl?: string
  /**
   * Called with every new snapshot of the limits (see
   * `Service.lastRateLimits`), before the answer that carried it is handed
   * on: to keep it where another process can read it (`subauth` writes it to
   * `$SUBAUTH_HOME/usage/<profile>.json`). A failure is logged, never the
   * request's.
   */
  readonly onRateLimits?: (snapshot: RateLimitsSnapshot) => Effect.Effect<void, unknown>
  /** Allow an `http://` base URL on a loopback host (tests, the sandbox). */
  readonly allowInsecureHttp?: boolean
  /** Default {@link DEFAULT_ORIGINATOR}. */
  readonly originator?: string
  /** Default {@link USER_AGENT}. */
  readonly userAgent?: string
  /** Default {@link DEFAULT_MODEL}. */
  readonly model?: string
  /** Default `{ effort: "medium" }`; `null` for none. */
  readonly reasoning?: Reasoning | null
  /** Default {@link DEFAULT_CLIENT_VERSION}. */
  readonly clientVersion?: string
  /** Default: a random UUID per service. */
  readonly sessionId?: string
  /**
   * Until the answer's status and headers. A request that gets none in time
   * is repeated at most once, and only if that starts within the retry budget
   * (with the defaults, never). Default {@link DEFAULT_TIMEOUT}.
   */
  readonly timeout?: Duration.DurationInput
  /**
   * Longest silence between two events of a stream (bytes that make no event
   * do not count); `Duration.infinity` for no limit. Default
   * {@link DEFAULT_IDLE_TIMEOUT}.
   */
  readonly idleTimeout?: Duration.DurationInput
  /**
   * Longest a stream may take from its headers to its end, however it
   * trickles; `Duration.infinity` for no limit. Default {@link DEFAULT_STREAM_TIMEOUT}.
   */
  readonly streamTimeout?: Duration.DurationInput
  /**
   * Retries of 5xx and transport failures before the stream starts (see
   * `TokenEndpoint.retryTransient`: a request that got no answer is repeated
   * at most once, and none after the budget, so a backend that never answers
   * costs one `timeout`). Default 4 attempts from 200 ms within 20 seconds.
   */
  readonly retry?: TokenEndpoint.RetryOptions
}

const addRedactedNames = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => [
  ...names,
  ...REDACTED_HEADERS.filter((name) => !names.includes(name))
]


const UNAUTHORIZED = Symbol("Unauthorized")

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SubscriptionLLM.Service, ProviderError, TokenManager | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const insecure = options.allowInsecureHttp === true
    const base = yield* checkBaseUrl("baseUrl", options.baseUrl ?? DEFAULT_BASE_URL, insecure)
    const usageUrl = yield* checkBaseUrl("usageUrl", options.usageUrl ?? usageUrlOf(base), insecure)
    const manager = yield* TokenManager
    // What every request to the backend has, built once (as Effect's `OpenAiClient` builds its client); the
    // usage endpoint is outside the Codex base, so its requests carry their whole address.
    const common = (yield* HttpClient.HttpClient).pipe(
      HttpClient.withTracerPropagation(false),
      HttpClient.mapRequest(HttpClientRequest.setHeaders({
        originator: options.originator ?? DEFAULT_ORIGINATOR,
        "user-agent": options.userAgent ?? USER_AGENT
      }))
    )
    const client = common.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(base)))
    const latest = yield* Ref.make(Option.none<RateLimitsSnapshot>())
    const onRateLimits = options.onRateLimits
    const record = (limits: RateLimits, source: RateLimitsSnapshot["source"]) =>
      Effect.gen(function*() {
        const snapshot: RateLimitsSnapshot = { limits, seenAt: yield* DateTime.now, source }
        yield* Ref.set(latest, Option.some(snapshot))
        if (onRateLimits !== undefined) {
          yield* onRateLimits(snapshot).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning(`the rate-limit snapshot was not kept: ${Cause.squash(cause)}`))
          )
        }
      })
    const sessionId = options.sessionId ?? globalThis.crypto.randomUUID()
    const defaults: Omit<Defaults, "conversationId"> = {
      model: options.model ?? DEFAULT_MODEL,
      reasoning: options.reasoning === undefined ? { effort: "medium" } : options.reasoning
    }
    const timeout = options.timeout ?? DEFAULT_TIMEOUT
    const idleTimeout = Duration.decode(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT)
    const streamTimeout = Duration.decode(options.streamTimeout ?? DEFAULT_STREAM_TIMEOUT)

    /**
     * Sends one request with `tokens` and waits for status and headers. A
     * non-2xx answer is read and classified here; 401 is reported as such.
     */
    const attempt = (
      client: HttpClient.HttpClient,
      endpoint: string,
      tokens: TokenSet.TokenSet,
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<
      HttpClientResponse.HttpClientResponse | typeof UNAUTHORIZED,
      UsageLimitReached | ResponseError | TransportError
    > => {
      const secrets = [Redacted.value(tokens.accessToken)]
      // Only the token is added per attempt; the client adds what is fixed (headers in Codex CLI 0.169's order).
      const authorized = request.pipe(
        HttpClientRequest.bearerToken(tokens.accessToken),
        Option.isSome(tokens.accountId) ? HttpClientRequest.setHeader("chatgpt-account-id", tokens.accountId.value) : identity
      )
      return execute(client, endpoint, authorized, { timeout, secrets }, (response): Effect.Effect<
        HttpClientResponse.HttpClientResponse | typeof UNAUTHORIZED,
        UsageLimitReached | ResponseError | TransportError
      > => {
        // Every answer may say where the limits stand (a 429 too): the latest is kept.
        const seen = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const limits = rateLimitsOf(response.headers, now)
          return limits === undefined ? Effect.void : record(limits, "headers")
        })
        if (response.status >= 200 && response.status < 300) return Effect.as(seen, response)
        return Effect.zipRight(seen, readBody(response, MAX_ERROR_BODY_BYTES).pipe(
          Effect.orElseSucceed(() => ({ status: response.status, text: "", json: undefined, headers: response.headers })),
          Effect.flatMap((answer) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const outcome = classifyAnswer(endpoint, answer, now, secrets)
              return outcome === "Unauthorized" ? Effect.succeed<typeof UNAUTHORIZED>(UNAUTHORIZED) : Effect.fail(outcome)
            })
          )
        ))
      }).pipe(Effect.tapError((error) => Effect.logDebug(`${endpoint}: ${error.message}`)))
    }

    /**
     * A valid token, the request, and on a 401 one recovery and one more
     * request; transient failures retried with backoff around each.
     */
    const authorized = (endpoint: string, request: HttpClientRequest.HttpClientRequest, via: HttpClient.HttpClient = client) =>
      Effect.gen(function*() {
        // Only the backend's request is retried here: the token manager retries its own refresh, as it must
        // (a refresh that may have reached the issuer is repeated at most once; see TokenManager).
        const retried = (tokens: Effect.Effect<TokenSet.TokenSet, TokenManager.Error>) =>
          Effect.flatMap(tokens, (t) =>
            Effect.map(
              TokenEndpoint.retryTransient(options.retry)(attempt(via, endpoint, t, request)),
              (answer) => [t, answer] as const
            ))
        const [used, first] = yield* retried(manager.get)
        if (first !== UNAUTHORIZED) return first
        yield* Effect.logDebug(`${endpoint}: the access token was refused (401); renewing it and trying once more`)
        const [, second] = yield* retried(manager.recover(used.accessToken))
        if (second !== UNAUTHORIZED) return second
        return yield* new ResponseError({ reason: "Unauthorized", status: 401 })
      }).pipe(
        Effect.locallyWith(Headers.currentRedactedNames, addRedactedNames),
        Effect.annotateLogs({ endpoint })
      )

    const stream = (request: Request): Stream.Stream<Event, SubscriptionLLM.Error> =>
      Effect.gen(function*() {
        const conversationId = request.conversationId ?? sessionId
        // It becomes a header: a value that cannot be one is the caller's mistake, not a defect.
        if (!Schema.is(CodexWire.SessionId)(conversationId)) {
          return yield* new ResponseError({
            reason: "InvalidRequest",
            description: `"conversationId" must be 1 to ${CodexWire.MAX_SESSION_ID_LENGTH} visible ASCII characters ` +
              `(it is sent as the "session-id" header)`
          })
        }
        // Leaving such an item out would lose part of the conversation without a word: refused instead.
        for (const [index, item] of request.input.entries()) {
          const why = unsendable(item)
          if (why !== undefined) {
            return yield* new ResponseError({ reason: "InvalidRequest", description: `input item ${index} cannot be sent: ${why}` })
          }
        }
        const { body, dropped } = buildBody(request, { ...defaults, conversationId })
        for (const name of dropped) {
          yield* Effect.logDebug(`dropped "${name}": the ChatGPT Codex backend rejects it ("Unsupported parameter")`)
        }
        const encoded = yield* Schema.encode(ResponsesRequest)(body as ResponsesRequest).pipe(
          Effect.mapError((error) =>
            new ResponseError({ reason: "InvalidRequest", description: `the request does not encode: ${error.message}` })
          )
        )
        const http = HttpClientRequest.post("/responses").pipe(
          HttpClientRequest.setHeaders({
            "session-id": conversationId,
            accept: "text/event-stream",
            "content-type": "application/json"
          }),
          HttpClientRequest.bodyText(JSON.stringify(encoded), "application/json")
        )
        yield* Effect.logDebug(`POST responses (model "${body.model}", ${body.input.length} input items)`)
        const response = yield* authorized("responses", http)
        const limits = rateLimitsOf(response.headers, yield* Clock.currentTimeMillis)
        const bytes = response.stream.pipe(
          Stream.mapError((error) =>
            new ResponseError({ reason: "StreamClosed", description: `the connection failed: ${describeTransport(error, [])}` })
          )
        )
        // Silence is measured between events, not bytes: a server that sends a byte a minute is silent all the same.
        const events = decodeEvents(bytes, { idleTimeout, streamTimeout })
        return limits === undefined ? events : Stream.concat(Stream.make(Event.RateLimits({ limits })), events)
      }).pipe(Stream.unwrap)

    const models: Effect.Effect<ModelList> = Effect.gen(function*() {
      const clientVersion = options.clientVersion ?? DEFAULT_CLIENT_VERSION
      const http = HttpClientRequest.get("/models").pipe(
        HttpClientRequest.setUrlParam("client_version", clientVersion),
        HttpClientRequest.setHeader("accept", "application/json")
      )
      const response = yield* authorized("models", http)
      const answer = yield* readBody(response, MAX_MODELS_BYTES).pipe(
        Effect.mapError(() => new ResponseError({ reason: "StreamClosed", status: response.status, description: "the connection failed" }))
      )
      if (answer.tooLarge === true) {
        return yield* new ResponseError({
          reason: "InvalidResponse",
          status: response.status,
          description: `the model list is larger than ${formatBytes(MAX_MODELS_BYTES)}`
        })
      }
      if (answer.json === undefined) {
        return yield* new ResponseError({ reason: "InvalidResponse", status: response.status, description: "the body is not JSON" })
      }
      const decoded = yield* Schema.decodeUnknown(ModelsResponse)(answer.json).pipe(
        Effect.mapError(() => new ResponseError({ reason: "InvalidResponse", status: response.status, description: "not a model list" }))
      )
      if (decoded.models.length === 0) {
        return yield* new ResponseError({ reason: "InvalidResponse", status: response.status, description: "an empty model list" })
      }
      return { source: "backend" as const, models: decoded.models.map(toModelInfo) }
    }).pipe(
      Effect.timeout(timeout),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning(`the model list is unavailable (${error.message}); using the bundled list`),
          { source: "bundled" as const, models: BUNDLED_MODELS }
        )
      )
    )

    const usage: Effect.Effect<UsageReport, SubscriptionLLM.Error> = Effect.gen(function*() {
      const http = HttpClientRequest.get(usageUrl).pipe(HttpClientRequest.setHeader("accept", "application/json"))
      yield* Effect.logDebug("GET usage")
      const response = yield* authorized("usage", http, common)
      const answer = yield* readBody(response, MAX_USAGE_BYTES).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new TransportError({ reason: "Timeout", endpoint: "usage", description: `the answer did not end within ${Duration.format(Duration.decode(timeout))}` })
        }),
        Effect.catchTag("ResponseError", () =>
          new ResponseError({ reason: "StreamClosed", status: response.status, description: "the connection failed" }))
      )
      const invalid = (description: string) => new ResponseError({ reason: "InvalidResponse", status: response.status, description })
      if (answer.tooLarge === true) return yield* invalid(`the usage report is larger than ${formatBytes(MAX_USAGE_BYTES)}`)
      if (answer.json === undefined) return yield* invalid("the usage answer is not JSON")
      const report = usageReportOf(answer.json, yield* Clock.currentTimeMillis)
      if (report === undefined) return yield* invalid("the usage answer is not a usage report (a JSON object)")
      const limits = RateLimitsModule.limitsOf(report)
      if (Object.keys(limits).length > 0) yield* record(limits, "usage")
      return report
    })

    return {
      sessionId,
      stream,
      generate: (request) => collect(stream(request)),
      models,
      usage,
      lastRateLimits: Ref.get(latest)
    }
  })

/**
 * The service, with `authorization` and `chatgpt-account-id` added to the
 * header names that are redacted wherever headers are printed.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<
  SubscriptionLLM,
  ProviderError,
  TokenManager | HttpClient.HttpClient
> =>
  Layer.merge(
    Layer.effect(SubscriptionLLM, make(options)),
    Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, addRedactedNames)
  )

/**
 * Options read through `Config`, once, when the layer is built; an option
 * whose config is not set keeps its default:
 *
 * ```ts
 * SubscriptionLLM.layerConfig({
 *   baseUrl: Config.string("SUBAUTH_CODEX_BASE_URL"),
 *   model: Config.string("SUBAUTH_MODEL")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: {
  readonly [K in "baseUrl" | "usageUrl" | "model" | "originator" | "userAgent" | "clientVersion" | "allowInsecureHttp"]?: Config.Config<
    NonNullable<Options[K]>
  >
}): Layer.Layer<SubscriptionLLM, ProviderError | ConfigError.ConfigError, TokenManager | HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all(Record.map(options as Record<string, Config.Config<unknown>>, Config.option)),
      (values) => layer(Record.getSomes(values) as Options)
    )
  )

/**
 * One turn, as it streams, from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (request: Request): Stream.Stream<Event, SubscriptionLLM.Error, SubscriptionLLM> =>
  Stream.unwrap(Effect.map(SubscriptionLLM, (llm) => llm.stream(request)))

/**
 * One turn, collected, from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const generate = (request: Request): Effect.Effect<Result, SubscriptionLLM.Error, SubscriptionLLM> =>
  Effect.flatMap(SubscriptionLLM, (llm) => llm.generate(request))

/**
 * The model catalog from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const models: Effect.Effect<ModelList, never, SubscriptionLLM> = Effect.flatMap(SubscriptionLLM, (llm) => llm.models)

/**
 * The subscription's limits now, from the usage endpoint, from the service in
 * context (see {@link SubscriptionLLM.Service.usage}).
 *
 * @since 0.1.0
 * @category accessors
 */
export const usage: Effect.Effect<UsageReport, SubscriptionLLM.Error, SubscriptionLLM> = Effect.flatMap(
  SubscriptionLLM,
  (llm) => llm.usage
)

/**
 * The latest limits the service in context saw (see
 * {@link SubscriptionLLM.Service.lastRateLimits}).
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastRateLimits: Effect.Effect<Option.Option<RateLimitsSnapshot>, never, SubscriptionLLM> = Effect.flatMap(
  SubscriptionLLM,
  (llm) => llm.lastRateLimits
)
