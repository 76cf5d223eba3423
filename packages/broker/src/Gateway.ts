/**
 * The agent gateway: an OpenAI-compatible endpoint (`/gateway/v1/chat/completions`,
 * `/gateway/v1/responses`, `/gateway/v1/models`) authenticated by session
 * keys. Each request runs with the key's user's sign-in, through the same
 * handlers as `subauth serve` (`OpenAIProxy.httpApp` of `@subauth/server`),
 * so an agent runtime (an OpenHands agent-server, any OpenAI client) needs
 * only `OPENAI_BASE_URL=<broker>/gateway/v1` and the key, and never sees an
 * OpenAI token.
 *
 * - A user's `SubscriptionLLM` is made once and kept (bounded, least recently
 *   used first out); its tokens come from the broker's lifecycle for that user
 *   (one refresh across replicas, as for `/token`).
 * - Earlier output a request refers to (`item_reference`,
 *   `previous_response_id`) is looked up as that user's only.
 * - The backend's rate-limit headers are kept as the connection's latest
 *   usage snapshot (`GET /v1/users/{id}/connection` shows it), written at
 *   when a window moved, else at most every {@link Options.usageWriteEvery};
 *   a window crossing the tenant's threshold sends the `usage.threshold`
 *   webhook; a usage-limit answer is audited (`usage.limit_reached`, at most
 *   once a minute per user).
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { HttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { type BackendError, SubscriptionLLM, TokenManager } from "@subauth/core"
import { ItemStore, OpenAIProxy, ServeKey } from "@subauth/server"
import { Clock, Duration, Effect, Option, Redacted, Stream } from "effect"
import { Audit } from "./Audit.js"
import { Connections } from "./Connections.js"
import * as Usage from "./internal/usage.js"
import { SessionKeys } from "./SessionKeys.js"
import { type UsageWindow, Webhooks } from "./Webhooks.js"

/**
 * Where the gateway is mounted: an agent's OpenAI base URL is the broker's address and this.
 *
 * @since 0.1.0
 * @category constants
 */
export const PATH = "/gateway/v1"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Users whose `SubscriptionLLM` is kept. Default 10,000. */
  readonly maxUsersInMemory?: number
  /** Earlier output kept for references, all users together. Default 256 MiB, 4 MiB a user. */
  readonly items?: ItemStore.Options
  /** How often a connection's usage snapshot is written at most. Default 30 seconds. */
  readonly usageWriteEvery?: Duration.DurationInput
}

// A user's usage as last written, and when its last usage-limit hit was audited.
interface State {
  usageAt: number
  limitAt: number
  windows: ReadonlyArray<UsageWindow>
}

// OpenAI's answer to a missing or wrong key, word for word where it can be.
const unauthorized = (message: string) =>
  HttpServerResponse.unsafeJson(
    { error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" } },
    { status: 401, headers: { "www-authenticate": "Bearer" } }
  )

/**
 * The gateway's routes, added to the broker's HTTP router.
 *
 * @since 0.1.0
 * @category layers
 */
export const routes = (options: Options = {}) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function*() {
      const keys = yield* SessionKeys
      const connections = yield* Connections
      const audit = yield* Audit
      const webhooks = yield* Webhooks
      const sql = yield* SqlClient.SqlClient
      const context = yield* Effect.context<HttpClient.HttpClient>()
      const items = ItemStore.makeMemory({ maxBytes: 256 * 1024 * 1024, maxBytesPerOwner: 4 * 1024 * 1024, ...options.items })
      const maxUsers = options.maxUsersInMemory ?? 10_000
      const usageEvery = Duration.toMillis(Duration.decode(options.usageWriteEvery ?? Duration.seconds(30)))

      // Per user, the LLM (least recently used first in the map).
      const users = new Map<string, SubscriptionLLM.SubscriptionLLM.Service>()

      // A snapshot is written when a window moved, else at most every `usageWriteEvery`; a threshold crossing is
      // looked for against the windows last written.
      const observeLimits = (tenantId: string, userId: string, state: State) => (limits: SubscriptionLLM.RateLimits) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const windows = Usage.windowsOf(limits)
          const moved = windows.some((w) => state.windows.find((p) => p.name === w.name)?.usedPercent !== w.usedPercent)
          if (!moved && now - state.usageAt < usageEvery) return
          const previous = state.windows
          state.usageAt = now
          state.windows = windows
          yield* sql`UPDATE connections SET usage_snapshot = ${Usage.encode(Usage.fromRateLimits(limits))}, usage_at = ${now}
            WHERE tenant_id = ${tenantId} AND user_id = ${userId}`
          if (moved) yield* webhooks.usageObserved(tenantId, userId, previous, windows)
        }).pipe(Effect.catchAll((error) => Effect.logWarning(`a usage snapshot was not written: ${error.message}`)))

      const observeLimitReached = (tenantId: string, userId: string, state: State) => (error: BackendError.UsageLimitReached) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          if (now - state.limitAt < 60_000) return
          state.limitAt = now
          yield* audit.record(tenantId, "usage.limit_reached", {
            userId,
            detail: { reason: error.reason, ...(error.planType !== undefined ? { plan: error.planType } : {}) }
          })
        }).pipe(Effect.catchAll((failure) => Effect.logWarning(`a usage-limit hit was not audited: ${failure.message}`)))

      // The user's LLM, watched: its rate-limit headers become the usage snapshot, its limit answers are audited.
      const llmFor = (tenantId: string, userId: string) =>
        Effect.gen(function*() {
          const id = `${tenantId}\u0000${userId}`
          const known = users.get(id)
          if (known !== undefined) {
            users.delete(id)
            users.set(id, known)
            return known
          }
          const manager = yield* connections.tokenManagerFor(tenantId, userId)
          const { baseUrl, originator } = connections.backend
          // The address was checked where the broker was configured (http only on a loopback host there too).
          const base = yield* SubscriptionLLM.make({ baseUrl, originator, allowInsecureHttp: baseUrl.startsWith("http:") }).pipe(Effect.provideService(TokenManager.TokenManager, manager), Effect.provide(context), Effect.orDie)
          const state: State = { usageAt: 0, limitAt: 0, windows: [] }
          const limits = observeLimits(tenantId, userId, state)
          const limitReached = observeLimitReached(tenantId, userId, state)
          const llm: SubscriptionLLM.SubscriptionLLM.Service = {
            ...base,
            stream: (request) =>
              base.stream(request).pipe(
                Stream.tap((event) => (event._tag === "RateLimits" ? limits(event.limits) : Effect.void)),
                Stream.tapError((error) => (error._tag === "UsageLimitReached" ? limitReached(error) : Effect.void))
              ),
            generate: (request) =>
              base.generate(request).pipe(
                Effect.tap((result) => (result.rateLimits !== undefined ? limits(result.rateLimits) : Effect.void)),
                Effect.tapErrorTag("UsageLimitReached", limitReached)
              )
          }
          users.set(id, llm)
          if (users.size > maxUsers) users.delete(users.keys().next().value!)
          return llm
        })

      const handle = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const presented = ServeKey.bearer(request.headers["authorization"])
        if (Option.isNone(presented)) {
          return unauthorized("no session key was sent: use the key of POST /v1/users/{user_id}/sessions as the API key (Authorization: Bearer sas_…)")
        }
        const holder = yield* keys.authenticate(Redacted.make(presented.value)).pipe(
          Effect.catchAll((error) => Effect.zipRight(Effect.logError(`checking a session key failed: ${error.message}`), Effect.succeed(undefined)))
        )
        if (holder === undefined) {
          return HttpServerResponse.unsafeJson(
            { error: { message: "the broker's database is unavailable; try again shortly", type: "server_error", param: null, code: "database_unavailable" } },
            { status: 503, headers: { "retry-after": "2" } }
          )
        }
        if (Option.isNone(holder)) return unauthorized("the session key is unknown, revoked or expired")
        const { tenantId, userId } = holder.value
        const llm = yield* llmFor(tenantId, userId).pipe(Effect.either)
        if (llm._tag === "Left") {
          const why = llm.left._tag === "BrokerError" ? llm.left.message : "the user's sign-in could not be read"
          return HttpServerResponse.unsafeJson(
            { error: { message: why, type: "server_error", param: null, code: "broker_error" } },
            { status: 503 }
          )
        }
        // The proxy's own paths are `/v1/…`.
        const inner = request.modify({ url: request.url.slice(PATH.length - "/v1".length) })
        return yield* OpenAIProxy.httpApp(llm.right, { owner: `${tenantId}:${userId}` }).pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, inner),
          Effect.provideService(ItemStore.ItemStore, items)
        )
      })

      yield* router.all(`${PATH}/*`, handle)
      yield* router.all(PATH, handle)
    })
  )
