/**
 * The broker's HTTP server: {@link BrokerApi} implemented over the broker's
 * services, on `node:http`.
 *
 * - Listens on 127.0.0.1 unless told otherwise.
 * - Every request gets a request id (`x-request-id`, the caller's if it is a
 *   short token of safe characters, else a new one), answered in the same
 *   header, written in the audit trail and in the request's log line.
 * - Bodies are limited to {@link MAX_BODY_BYTES}; an unknown route is a JSON
 *   404; an unexpected failure a JSON 500 that says nothing of the cause. Logs
 *   name method, path (never the query), status, time and request id: no
 *   body, no header, no token.
 * - On close (SIGTERM, SIGINT): new connections are refused, requests in
 *   flight finish, idle keep-alive connections are closed, then the poll loop
 *   stops.
 *
 * Longer than 650 lines: it implements every group of the one `BrokerApi`
 * definition (thin handlers that call the services, built together as
 * `HttpApiBuilder` wants), plus the token route's fast path and the gateway's
 * mount; what the handlers do lives in the services.
 *
 * @since 0.1.0
 */
import {
  FileSystem,
  HttpApiBuilder,
  HttpApp,
  HttpIncomingMessage,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SqlClient } from "@effect/sql"
import { Cause, Clock, Context, DateTime, Effect, Either, Layer, Option, ParseResult, Redacted, Schema } from "effect"
import { createServer } from "node:http"
import * as Audit from "./Audit.js"
import * as Api from "./BrokerApi.js"
import * as BrokerDatabase from "./BrokerDatabase.js"
import * as ConnectPage from "./ConnectPage.js"
import { BrokerError, type DatabaseError, statusOf, type VaultError } from "./BrokerError.js"
import { ConnectSessions, type View } from "./ConnectSessions.js"
import { type ConnectionStatus, Connections, type IssuedToken } from "./Connections.js"
import { OpenAIProxy } from "@subauth/server"
import * as Gateway from "./Gateway.js"
import * as SessionKeys from "./SessionKeys.js"
import { type Caller, Tenants } from "./Tenants.js"
import * as Webhooks from "./Webhooks.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const MAX_BODY_BYTES = 64 * 1024

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HOST = "127.0.0.1"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORT = 8790

/**
 * The running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `http://<host>:<port>`. */
  readonly url: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class BrokerServer extends Context.Tag("@subauth/broker/BrokerServer")<BrokerServer, Service>() {}

// --- errors -----------------------------------------------------------------------------------------

const detail = (code: BrokerError["code"], message: string, reason?: string) => ({
  error: { code, message, ...(reason !== undefined ? { reason } : {}) }
})

/**
 * The API's answer for a service error. Database and key failures say what
 * failed, never why in detail (the log has the cause's tag).
 *
 * @since 0.1.0
 * @category errors
 */
export const toApiError = (error: BrokerError | DatabaseError | VaultError): Api.ApiError => {
  if (error._tag === "DatabaseError") {
    return new Api.Unavailable(detail("database_unavailable", "the broker's database is unavailable; try again shortly"))
  }
  if (error._tag === "VaultError") {
    return new Api.Internal(detail("internal_error", "stored credentials could not be decrypted; the operator must check the master key"))
  }
  const body = detail(error.code, error.description, error.reason)
  switch (statusOf[error.code]) {
    case 400:
    case 413:
      return new Api.InvalidRequest(body)
    case 401:
      return new Api.Unauthorized(body)
    case 404:
      return new Api.NotFound(body)
    case 409:
      return new Api.Conflict(body)
    case 429:
      return new Api.TooManyRequests(body)
    case 503:
      return new Api.Unavailable(body)
    default:
      return new Api.Internal(body)
  }
}

const answer = <A, R>(effect: Effect.Effect<A, BrokerError | DatabaseError | VaultError, R>) =>
  effect.pipe(
    Effect.tapError((error) =>
      error._tag === "BrokerError" ? Effect.void : Effect.logError(`request failed: ${error._tag}.${error.reason}: ${error.message}`)
    ),
    Effect.mapError(toApiError)
  )

// The caller of an authenticated route acts under its key in the audit trail.
const asCaller = <A, E, R>(body: (caller: Api.CurrentCaller["Type"]) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Api.CurrentCaller, (caller) =>
    Effect.locallyWith(body(caller), Audit.currentActor, (actor) => ({ ...actor, actor: `key:${caller.keyId}` })))

// --- wire views -----------------------------------------------------------------------------------

const time = (ms: number) => DateTime.unsafeMake(ms)
const timeOrNull = (ms: Option.Option<number>) => Option.getOrNull(Option.map(ms, time))

const sessionOf = (view: View): Api.Session =>
  new Api.Session({
    id: view.id,
    user_id: view.userId,
    method: view.method,
    status: view.status,
    reason: Option.getOrNull(view.reason),
    message: Option.getOrNull(view.description),
    consent: view.consent,
    created_at: time(view.createdAt),
    expires_at: time(view.expiresAt),
    device: Option.getOrNull(Option.map(view.device, (d) => ({
      user_code: d.userCode,
      verification_uri: d.verificationUri,
      interval: d.intervalSeconds
    }))),
    paste: Option.getOrNull(Option.map(view.paste, (p) => ({ authorize_url: p.authorizeUrl, redirect_uri: p.redirectUri })))
  })

const connectionOf = (status: ConnectionStatus): Api.Connection =>
  new Api.Connection({
    user_id: status.userId,
    status: status.status,
    reauth_reason: Option.getOrNull(status.reauthReason),
    account_id: Option.getOrNull(status.accountId),
    email: Option.getOrNull(status.email),
    plan: Option.getOrNull(status.plan),
    access_token_expires_at: timeOrNull(status.accessTokenExpiresAt),
    connected_at: timeOrNull(status.connectedAt),
    last_refresh_at: timeOrNull(status.lastRefreshAt),
    last_used_at: timeOrNull(status.lastUsedAt),
    claims_verified: status.claimsVerified,
    consent: Option.getOrNull(Option.map(status.consent, (c) =>
      new Api.ConsentBody({ terms_version: c.termsVersion, text_sha256: c.textSha256, accepted_at: time(c.acceptedAt), attested_by: c.attestedBy }))),
    usage: Option.getOrNull(Option.map(status.usage, ({ observedAt, snapshot }) => {
      const windowOf = (w: typeof snapshot.primary) =>
        w === null ? null : new Api.UsageWindow({ used_percent: w.used_percent, window_minutes: w.window_minutes, resets_at: w.resets_at === null ? null : time(w.resets_at) })
      return new Api.Usage({
        primary: windowOf(snapshot.primary),
        secondary: windowOf(snapshot.secondary),
        credits: snapshot.credits,
        plan: snapshot.plan,
        observed_at: time(observedAt)
      })
    }))
  })

const invalid = (message: string) => new Api.InvalidRequest(detail("invalid_request", message))

const parseCount = (name: string, value: string | undefined, fallback: number, max: number) => {
  if (value === undefined) return Effect.succeed(fallback)
  const n = Number(value)
  return /^\d+$/.test(value) && Number.isSafeInteger(n) && n <= max
    ? Effect.succeed(n)
    : Effect.fail(invalid(`"${name}" must be a whole number from 0 to ${max}`))
}

// --- handlers -------------------------------------------------------------------------------------

const HealthLive = HttpApiBuilder.group(Api.BrokerApi, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        BrokerDatabase.checkReady.pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.as({ status: "ready" as const }),
          Effect.mapError((error) => new Api.Unavailable(detail("database_unavailable", error.message)))
        ))
  }))

// The broker's address as the request reached it: the connect page's links when no public address is configured.
const originOf = (request: HttpServerRequest.HttpServerRequest) => `http://${request.headers["host"] ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`}`

const connectLive = (options: Options) => HttpApiBuilder.group(Api.BrokerApi, "connect", (handlers) =>
  Effect.gen(function*() {
    const sessions = yield* ConnectSessions
    return handlers
      .handle("create", ({ payload }) =>
        asCaller((caller) =>
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            const created = yield* answer(sessions.create(caller, {
              userId: payload.user_id,
              method: payload.method ?? "page",
              acceptTerms: payload.accept_terms === true,
              returnUrl: payload.return_url,
              locale: payload.locale,
              pageBase: options.publicUrl ?? originOf(request)
            }))
            return new Api.Session({ ...sessionOf(created), connect_url: created.connectUrl })
          })
        ))
      .handle("get", ({ path }) => asCaller((caller) => answer(sessions.get(caller.tenantId, path.id)).pipe(Effect.map(sessionOf))))
      .handle("consent", ({ path }) =>
        asCaller((caller) => answer(sessions.consent(caller.tenantId, path.id, `app:${caller.keyId}`)).pipe(Effect.map(sessionOf))))
      .handle("redirect", ({ path, payload }) =>
        asCaller((caller) => answer(sessions.submitRedirect(caller.tenantId, path.id, payload.url)).pipe(Effect.map(sessionOf))))
  }))

const expiresIn = (issued: IssuedToken, now: number) => Math.max(0, Math.floor((issued.expiresAt - now) / 1000))

// The token route's work, whichever shell serves it (see `tokenRoute`).
const issueToken = (connections: Connections.Service, caller: Caller, userId: string, payload: Api.TokenRequest) =>
  answer(connections.issue(caller.tenantId, userId, {
    minTtlSeconds: payload.min_ttl_seconds,
    label: payload.label,
    rejected: payload.rejected_access_token
  })).pipe(Effect.flatMap((issued) => Effect.map(Clock.currentTimeMillis, (now) => ({ issued, now }))))

const UsersLive = HttpApiBuilder.group(Api.BrokerApi, "users", (handlers) =>
  Effect.gen(function*() {
    const connections = yield* Connections
    return handlers
      .handle("connection", ({ path }) =>
        asCaller((caller) => answer(connections.status(caller.tenantId, path.user_id)).pipe(Effect.map(connectionOf))))
      .handle("token", ({ path, payload }) =>
        asCaller((caller) =>
          Effect.map(issueToken(connections, caller, path.user_id, payload), ({ issued, now }) =>
            new Api.Token({
              access_token: issued.accessToken,
              token_type: "Bearer",
              expires_at: time(issued.expiresAt),
              expires_in: expiresIn(issued, now),
              account_id: Option.getOrNull(issued.accountId),
              llm: { base_url: issued.llm.baseUrl, headers: issued.llm.headers }
            }))
        ))
      .handle("signOut", ({ path, urlParams }) =>
        asCaller((caller) =>
          answer(connections.signOut(caller.tenantId, path.user_id, { revoke: urlParams.revoke !== "false" })).pipe(
            Effect.map((result) => new Api.SignOut({ user_id: result.userId, signed_in: result.signedIn, revoke: result.revoke }))
          )
        ))
      .handle("erase", ({ path }) =>
        asCaller((caller) =>
          answer(connections.erase(caller.tenantId, path.user_id)).pipe(
            Effect.map((result) => new Api.Erased({ user_id: result.userId, erased: true, revoke: result.revoke }))
          )
        ))
  }))

const sessionKeyOf = (key: SessionKeys.SessionKey) =>
  new Api.SessionKey({
    id: key.id,
    user_id: key.userId,
    label: key.label,
    created_at: time(key.createdAt),
    expires_at: time(key.expiresAt),
    revoked_at: timeOrNull(key.revokedAt),
    uses: key.uses,
    last_used_at: timeOrNull(key.lastUsedAt)
  })

const sessionKeysLive = (options: Options) => HttpApiBuilder.group(Api.BrokerApi, "sessionKeys", (handlers) =>
  Effect.gen(function*() {
    const keys = yield* SessionKeys.SessionKeys
    const connections = yield* Connections
    return handlers
      .handle("create", ({ path, payload }) =>
        asCaller((caller) =>
          Effect.gen(function*() {
            // A key is for a user whose sign-in works now.
            const status = yield* answer(connections.status(caller.tenantId, path.user_id))
            if (status.status === "none") {
              return yield* answer(Effect.fail(new BrokerError({ code: "not_connected", description: `user ${JSON.stringify(path.user_id)} is not connected` })))
            }
            if (status.status === "reauth_required") {
              return yield* answer(Effect.fail(new BrokerError({
                code: "reauth_required",
                description: `user ${JSON.stringify(path.user_id)} must connect again`,
                ...Option.match(status.reauthReason, { onNone: () => ({}), onSome: (reason) => ({ reason }) })
              })))
            }
            const request = yield* HttpServerRequest.HttpServerRequest
            const { key, secret } = yield* answer(keys.create(caller.tenantId, path.user_id, { label: payload.label, ttlSeconds: payload.ttl_seconds }))
            return new Api.CreatedSessionKey({
              id: key.id,
              user_id: key.userId,
              label: key.label,
              key: secret,
              created_at: time(key.createdAt),
              expires_at: time(key.expiresAt),
              base_url: `${options.publicUrl ?? originOf(request)}${Gateway.PATH}`
            })
          })
        ))
      .handle("list", ({ path }) =>
        asCaller((caller) =>
          answer(keys.list(caller.tenantId, path.user_id)).pipe(Effect.map((all) => new Api.SessionKeyList({ sessions: all.map(sessionKeyOf) })))
        ))
      .handle("revoke", ({ path }) =>
        asCaller((caller) =>
          answer(keys.revoke(caller.tenantId, path.id)).pipe(
            Effect.flatMap(Option.match({
              onNone: () => answer(Effect.fail(new BrokerError({ code: "not_found", description: `there is no session key ${JSON.stringify(path.id)}` }))),
              onSome: (key) => Effect.succeed(sessionKeyOf(key))
            }))
          )
        ))
  }))

const AuditLive = HttpApiBuilder.group(Api.BrokerApi, "audit", (handlers) =>
  Effect.gen(function*() {
    const audit = yield* Audit.Audit
    return handlers.handle("list", ({ urlParams }) =>
      asCaller((caller) =>
        Effect.gen(function*() {
          const limit = yield* parseCount("limit", urlParams.limit, 100, Audit.MAX_PAGE)
          const after = yield* parseCount("after", urlParams.after, 0, Number.MAX_SAFE_INTEGER)
          const page = yield* answer(audit.list(caller.tenantId, { userId: urlParams.user_id, after, limit: Math.max(1, limit) }))
          return new Api.AuditPage({
            events: page.events.map((entry) =>
              new Api.AuditEvent({
                id: entry.id,
                user_id: entry.user_id,
                event: entry.event,
                actor: entry.actor,
                request_id: entry.request_id,
                at: time(entry.at),
                detail: entry.detail
              })
            ),
            next_cursor: Option.getOrNull(Option.map(page.next, String))
          })
        })
      ))
  }))

const webhookOf = (configured: Webhooks.Configured): Api.Webhook =>
  new Api.Webhook({
    url: configured.config.url,
    usage_threshold_percent: Option.getOrNull(configured.config.usageThresholdPercent),
    created_at: time(configured.config.createdAt),
    updated_at: time(configured.config.updatedAt),
    ...(Option.isSome(configured.secret) ? { secret: configured.secret.value } : {})
  })

const WebhookLive = HttpApiBuilder.group(Api.BrokerApi, "webhook", (handlers) =>
  Effect.gen(function*() {
    const webhooks = yield* Webhooks.Webhooks
    return handlers
      .handle("configure", ({ payload }) =>
        asCaller((caller) =>
          answer(webhooks.configure(caller.tenantId, {
            url: payload.url,
            usageThresholdPercent: payload.usage_threshold_percent ?? undefined
          })).pipe(Effect.map(webhookOf))
        ))
      .handle("get", () =>
        asCaller((caller) => answer(webhooks.get(caller.tenantId)).pipe(Effect.map((config) => webhookOf({ config, secret: Option.none() })))))
      .handle("remove", () =>
        asCaller((caller) => answer(webhooks.remove(caller.tenantId)).pipe(Effect.map((removed) => new Api.WebhookRemoved({ removed })))))
      .handle("rotateSecret", () => asCaller((caller) => answer(webhooks.rotateSecret(caller.tenantId)).pipe(Effect.map(webhookOf))))
      .handle("deliveries", ({ urlParams }) =>
        asCaller((caller) =>
          Effect.gen(function*() {
            const limit = yield* parseCount("limit", urlParams.limit, 50, Webhooks.MAX_LOG)
            const rows = yield* answer(webhooks.deliveries(caller.tenantId, { limit: Math.max(1, limit) }))
            return new Api.WebhookDeliveries({
              deliveries: rows.map((row) =>
                new Api.WebhookDelivery({
                  id: row.id,
                  event: row.event,
                  user_id: Option.getOrNull(row.userId),
                  status: row.status,
                  attempts: row.attempts,
                  created_at: time(row.createdAt),
                  next_attempt_at: timeOrNull(row.nextAttemptAt),
                  delivered_at: timeOrNull(row.deliveredAt),
                  last_status: Option.getOrNull(row.lastStatus),
                  last_error: Option.getOrNull(row.lastError)
                })
              )
            })
          })
        ))
  }))

// The caller a presented key belongs to.
const authenticate = (tenants: Tenants.Service, key: Redacted.Redacted<string>) =>
  tenants.authenticate(key).pipe(
    Effect.mapError(() => new Api.Unavailable(detail("database_unavailable", "the broker's database is unavailable; try again shortly"))),
    Effect.flatMap(Option.match({
      onNone: () =>
        Effect.fail(
          new Api.Unauthorized(detail(
            "unauthorized",
            Redacted.value(key) === "" ? "no API key was sent (Authorization: Bearer sab_…)" : "the API key is unknown or revoked"
          ))
        ),
      onSome: Effect.succeed
    }))
  )

const TenantAuthLive = Layer.effect(
  Api.TenantAuth,
  Effect.map(Tenants, (tenants) => ({ apiKey: (key: Redacted.Redacted<string>) => authenticate(tenants, key) }))
)

// --- the token route, by hand ----------------------------------------------------------------------

/*
 * The hottest route is served without the HttpApi pipeline (security middleware, schema classes for the body and
 * the answer, the error union): in bench/results/broker.json that pipeline alone cost the token route more than a
 * whole constant-JSON request. It is the same contract: `BrokerApi` still declares the route (the client, the
 * OpenAPI document and the HttpApi handler above use it), the body is decoded with the same `TokenRequest` schema,
 * and the tests drive it over HTTP, also through the typed client, which decodes these answers with the
 * definition's schemas.
 */

const tokenPath = /^\/v1\/users\/([^/]+)\/token$/

const decodeTokenRequest = Schema.decodeUnknownEither(Api.TokenRequest)

const apiError = (error: Api.ApiError) => json(error.status, { status: error.status, error: error.error })

const tokenRoute = (request: HttpServerRequest.HttpServerRequest, rawUserId: string) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const connections = yield* Connections
    const header = request.headers["authorization"] ?? ""
    const key = Redacted.make(/^bearer /i.test(header) ? header.slice(7).trim() : "")
    const caller = yield* authenticate(tenants, key)
    let userId: string
    try {
      userId = decodeURIComponent(rawUserId)
    } catch {
      return yield* Effect.fail(invalid("the user id in the path is not valid"))
    }
    const text = yield* Effect.mapError(request.text, () => invalid("the request body could not be read"))
    let body: unknown
    try {
      body = text.trim() === "" ? {} : JSON.parse(text)
    } catch {
      return yield* Effect.fail(invalid("the request body is not JSON"))
    }
    const payload = decodeTokenRequest(body)
    if (Either.isLeft(payload)) {
      return yield* Effect.fail(invalid(`the request body is not a token request: ${describeIssues(payload.left)}`))
    }
    const { issued, now } = yield* Effect.locallyWith(
      issueToken(connections, caller, userId, payload.right),
      Audit.currentActor,
      (actor) => ({ ...actor, actor: `key:${caller.keyId}` })
    )
    return json(200, {
      access_token: Redacted.value(issued.accessToken),
      token_type: "Bearer",
      expires_at: new Date(issued.expiresAt).toISOString(),
      expires_in: expiresIn(issued, now),
      account_id: Option.getOrNull(issued.accountId),
      llm: { base_url: issued.llm.baseUrl, headers: issued.llm.headers }
    })
  }).pipe(
    Effect.catchAll((error) => Effect.succeed(apiError(error))),
    // As HttpApi's handlers are: a client that hangs up ends its request (a refresh runs on by itself).
    Effect.interruptible
  )

// A schema error's problems in a line, with their fields.
const describeIssues = (error: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(error).slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? `"${issue.path.join(".")}": ` : ""}${issue.message}`)
    .join("; ")

// --- the outer middleware -------------------------------------------------------------------------

const requestIdPattern = /^[A-Za-z0-9._:-]{1,64}$/

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const pathOf = (url: string) => {
  const path = url.split("?")[0] ?? "/"
  return path.length > 200 ? `${path.slice(0, 200)}…` : path
}

const emptyErrors: Record<number, readonly [BrokerError["code"], string]> = {
  400: ["invalid_request", "the request could not be read (is the body JSON?)"],
  404: ["not_found", "no such route"],
  405: ["invalid_request", "this method is not allowed here"],
  413: ["payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`],
  500: ["internal_error", "the broker failed unexpectedly; the request id identifies it in the logs"],
  503: ["database_unavailable", "the broker is unavailable; try again shortly"]
}

interface DecodeIssue {
  readonly path?: ReadonlyArray<unknown>
  readonly message?: string
}

// The platform's schema errors, in the API's error format: one line per problem, with its field.
const fromDecodeError = (text: string): string | undefined => {
  let parsed: { _tag?: unknown; issues?: ReadonlyArray<DecodeIssue> }
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    return undefined
  }
  if (parsed._tag !== "HttpApiDecodeError") return undefined
  const problems = (parsed.issues ?? []).slice(0, 5).map((issue) => {
    const field = (issue.path ?? []).map(String).join(".")
    const message = (issue.message ?? "is not valid").replace(/\s+/g, " ").slice(0, 200)
    return field === "" ? message : `"${field}": ${message}`
  })
  return problems.length > 0 ? problems.join("; ") : "the request is not valid"
}

// Every answer: the request id, and a JSON error body where the platform left none or its own.
const finish = (requestId: string, seen: { status: number }) => (_: unknown, response: HttpServerResponse.HttpServerResponse) =>
  Effect.sync(() => {
    let out = response
    const known = emptyErrors[response.status]
    if (response.status >= 400 && response.body._tag === "Empty" && known !== undefined) {
      out = json(response.status, { status: response.status, error: { code: known[0], message: known[1] } })
    } else if (response.status === 400 && response.body._tag === "Uint8Array") {
      const message = fromDecodeError(new TextDecoder().decode(response.body.body))
      if (message !== undefined) out = json(400, { status: 400, error: { code: "invalid_request", message } })
    }
    seen.status = out.status
    return HttpServerResponse.setHeader(out, "x-request-id", requestId)
  })

/**
 * Request ids, the body limit, JSON for every error (unknown routes, bodies
 * that do not decode, unexpected failures), and one log line per request.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (app: HttpApp.Default): HttpApp.Default<never, Tenants | Connections> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const presented = request.headers["x-request-id"]
    const requestId = presented !== undefined && requestIdPattern.test(presented)
      ? presented
      : `req_${globalThis.crypto.randomUUID().replaceAll("-", "")}`
    const started = yield* Clock.currentTimeMillis
    const seen = { status: 0 }
    const declared = Number(request.headers["content-length"] ?? "0")
    const token = request.method === "POST" ? tokenPath.exec(pathOf(request.url)) : null
    // The gateway takes what an OpenAI client sends (long conversations); the API, small JSON.
    const limit = pathOf(request.url).startsWith(`${Gateway.PATH}/`) ? OpenAIProxy.MAX_BODY_BYTES : MAX_BODY_BYTES
    const response = declared > limit
      ? yield* finish(requestId, seen)(request, HttpServerResponse.empty({ status: 413 }))
      : yield* (token !== null ? Effect.flatMap(tokenRoute(request, token[1]!), (r) => finish(requestId, seen)(request, r)) : app).pipe(
        HttpApp.withPreResponseHandler(finish(requestId, seen)),
        Effect.catchAllCause((cause) =>
          // The platform has already answered (through `finish`); only an unexpected failure is worth a line.
          !Cause.isDie(cause)
            ? Effect.succeed(HttpServerResponse.empty({ status: seen.status }))
            : Effect.as(
              Effect.logError(`unexpected failure: ${Cause.squash(cause) instanceof Error ? (Cause.squash(cause) as Error).name : "defect"}`),
              HttpServerResponse.empty({ status: 500 })
            )
        ),
        Effect.provideService(HttpIncomingMessage.MaxBodySize, Option.some(FileSystem.Size(limit))),
        Effect.locally(Audit.currentActor, { actor: "anonymous", requestId })
      )
    const elapsed = (yield* Clock.currentTimeMillis) - started
    yield* Effect.logInfo(`${request.method} ${pathOf(request.url)} ${seen.status || response.status}`).pipe(
      Effect.annotateLogs({ request_id: requestId, status: seen.status || response.status, ms: elapsed })
    )
    return response
  }).pipe(Effect.annotateLogs({ service: "subauth-broker" }))

// --- layers ---------------------------------------------------------------------------------------

/**
 * The API's routes over the broker's services (no HTTP server): for
 * `HttpApiBuilder.serve`, or `HttpApiBuilder.toWebHandler` in tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerApi = (options: Options = {}) =>
  HttpApiBuilder.api(Api.BrokerApi).pipe(
    Layer.provide([HealthLive, connectLive(options), UsersLive, sessionKeysLive(options), AuditLive, WebhookLive]),
    Layer.provide(TenantAuthLive)
  )

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default {@link DEFAULT_HOST}. */
  readonly host?: string
  /** Default {@link DEFAULT_PORT}; 0 for any free port. */
  readonly port?: number
  /**
   * The address users reach the broker at (behind a proxy: `https://broker.example.com`), for the connect page's
   * links and cookies. Default: the address the app's request came to.
   */
  readonly publicUrl?: string
  /** The agent gateway under `/gateway/v1`. */
  readonly gateway?: Gateway.Options
}

/**
 * The server, listening for the life of the layer, with `/openapi.json`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}) => {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const serve = HttpApiBuilder.serve(middleware).pipe(
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ConnectPage.routes(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {})),
    Layer.provide(Gateway.routes(options.gateway)),
    Layer.provide(layerApi(options))
  )
  const running = Layer.effect(
    BrokerServer,
    Effect.map(HttpServer.HttpServer, (server): Service => {
      const address = server.address
      const bound = address._tag === "TcpAddress" ? address.port : port
      const shownHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
      return { url: `http://${shownHost}:${bound}`, port: bound }
    })
  )
  return Layer.merge(serve, running).pipe(Layer.provide(NodeHttpServer.layer(() => createServer({ keepAliveTimeout: 5_000 }), { host, port })))
}
