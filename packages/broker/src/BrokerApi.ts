/**
 * The broker's HTTP API as one `HttpApi` definition: the server implements it
 * (`BrokerServer`), the typed client is derived from it (`BrokerClient`), and
 * so is the OpenAPI document served at `/openapi.json`. Wire names are
 * snake_case; times are ISO 8601; errors are
 * `{"status": 404, "error": {"code": "not_connected", "message": "…"}}`, the
 * HTTP status repeated in the body.
 *
 * Every route under `/v1` needs `Authorization: Bearer <tenant API key>`, and
 * every id in a path is looked up in that key's tenant only: another tenant's
 * user or session is the same 404 as one that does not exist.
 *
 * @since 0.1.0
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import * as Audit from "./Audit.js"
import { Code } from "./BrokerError.js"
import type { Caller } from "./Tenants.js"
import * as Webhooks from "./Webhooks.js"

const ErrorDetail = Schema.Struct({
  code: Code,
  message: Schema.String,
  /** Why a sign-in ended, for `reauth_required`. */
  reason: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.Class<InvalidRequest>("InvalidRequest")(
  { status: Schema.tag(400), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 400, description: "The request is not valid; the message says what is wrong." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")(
  { status: Schema.tag(401), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 401, description: "No API key, or one that is unknown or revoked." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.Class<NotFound>("NotFound")(
  { status: Schema.tag(404), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 404, description: "No such user, connection or session in this tenant." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class Conflict extends Schema.Class<Conflict>("Conflict")(
  { status: Schema.tag(409), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 409, description: "The user must connect again (`reauth_required`), or the session is no longer pending." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class TooManyRequests extends Schema.Class<TooManyRequests>("TooManyRequests")(
  { status: Schema.tag(429), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 429, description: "Too many pending connect sessions." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class Internal extends Schema.Class<Internal>("Internal")(
  { status: Schema.tag(500), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 500, description: "The broker failed; the message never holds a secret." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class Unavailable extends Schema.Class<Unavailable>("Unavailable")(
  { status: Schema.tag(503), error: ErrorDetail },
  HttpApiSchema.annotations({ status: 503, description: "The issuer or the database is unavailable, or another replica is refreshing: try again after `retry-after`." })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export type ApiError = InvalidRequest | Unauthorized | NotFound | Conflict | TooManyRequests | Internal | Unavailable

/**
 * The caller of an authenticated route.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentCaller extends Context.Tag("@subauth/broker/CurrentCaller")<CurrentCaller, Caller>() {}

/**
 * Tenant API key authentication (`Authorization: Bearer sab_…`).
 *
 * @since 0.1.0
 * @category middleware
 */
export class TenantAuth extends HttpApiMiddleware.Tag<TenantAuth>()("@subauth/broker/TenantAuth", {
  failure: Schema.Union(Unauthorized, Unavailable, Internal),
  provides: CurrentCaller,
  security: {
    apiKey: HttpApiSecurity.bearer.pipe(HttpApiSecurity.annotate(OpenApi.Description, "A tenant API key (sab_…)."))
  }
}) {}

const Time = Schema.DateTimeUtc

/**
 * @since 0.1.0
 * @category schemas
 */
export const UserIdParam = HttpApiSchema.param("user_id", Schema.String.pipe(Schema.maxLength(200)))

/**
 * @since 0.1.0
 * @category schemas
 */
export const SessionIdParam = HttpApiSchema.param("id", Schema.String.pipe(Schema.maxLength(200)))

/**
 * @since 0.1.0
 * @category schemas
 */
export class CreateSessionRequest extends Schema.Class<CreateSessionRequest>("CreateSessionRequest")({
  user_id: Schema.String.pipe(Schema.maxLength(200)),
  /** `device` or `paste`; without it the user picks on the connect page (`connect_url`), where `subauth connect` is offered too. */
  method: Schema.optional(Schema.Literal("device", "paste")),
  /** The app showed the terms notice and the user accepted it: recorded as their consent, attested by this key. */
  accept_terms: Schema.optional(Schema.Boolean),
  /** Where the connect page sends the user when done: must start with one of the tenant's return addresses. */
  return_url: Schema.optional(Schema.String.pipe(Schema.maxLength(2000))),
  /** The connect page's language (`en`, `de`); default: the browser's. */
  locale: Schema.optional(Schema.String.pipe(Schema.maxLength(10)))
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class Session extends Schema.Class<Session>("Session")({
  id: Schema.String,
  user_id: Schema.String,
  /** `page`: the user has not picked yet on the connect page; `cli`: `subauth connect` on the user's computer. */
  method: Schema.Literal("device", "paste", "page", "cli"),
  status: Schema.Literal("pending", "connected", "expired", "denied", "failed"),
  reason: Schema.NullOr(Schema.String),
  message: Schema.NullOr(Schema.String),
  consent: Schema.Literal("required", "given"),
  created_at: Time,
  expires_at: Time,
  device: Schema.NullOr(Schema.Struct({ user_code: Schema.String, verification_uri: Schema.String, interval: Schema.Number })),
  paste: Schema.NullOr(Schema.Struct({ authorize_url: Schema.String, redirect_uri: Schema.String })),
  /**
   * Only when the session is created: the connect page for the user (single use, valid 10 minutes; it sets a cookie
   * and leaves the address bar). Send the user there instead of showing the code yourself.
   */
  connect_url: Schema.optional(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class RedirectRequest extends Schema.Class<RedirectRequest>("RedirectRequest")({
  /** The whole address the browser ended on (`http://127.0.0.1:1455/auth/callback?code=…&state=…`). */
  url: Schema.String.pipe(Schema.maxLength(8192))
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class ConsentBody extends Schema.Class<ConsentBody>("Consent")({
  terms_version: Schema.String,
  /** base64url SHA-256 of the notice and disclaimer as the user was shown them (in their language, on the connect page). */
  text_sha256: Schema.String,
  accepted_at: Time,
  /** `user` (on the connect page) or `app:<key id>` (the app collected it). */
  attested_by: Schema.String
}) {}

/**
 * One usage window as the backend last reported it (`x-codex-primary-*`: the 5-hour window; `secondary`: the week).
 *
 * @since 0.1.0
 * @category schemas
 */
export class UsageWindow extends Schema.Class<UsageWindow>("UsageWindow")({
  used_percent: Schema.Number,
  window_minutes: Schema.NullOr(Schema.Number),
  resets_at: Schema.NullOr(Time)
}) {}

/**
 * The latest usage snapshot the gateway saw for a connection (from the backend's rate-limit headers).
 *
 * @since 0.1.0
 * @category schemas
 */
export class Usage extends Schema.Class<Usage>("Usage")({
  primary: Schema.NullOr(UsageWindow),
  secondary: Schema.NullOr(UsageWindow),
  credits: Schema.NullOr(Schema.Struct({ has_credits: Schema.Boolean, unlimited: Schema.Boolean, balance: Schema.NullOr(Schema.String) })),
  plan: Schema.NullOr(Schema.String),
  observed_at: Time
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class Connection extends Schema.Class<Connection>("Connection")({
  user_id: Schema.String,
  status: Schema.Literal("connected", "reauth_required", "none"),
  reauth_reason: Schema.NullOr(Schema.String),
  account_id: Schema.NullOr(Schema.String),
  email: Schema.NullOr(Schema.String),
  plan: Schema.NullOr(Schema.String),
  access_token_expires_at: Schema.NullOr(Time),
  connected_at: Schema.NullOr(Time),
  last_refresh_at: Schema.NullOr(Time),
  last_used_at: Schema.NullOr(Time),
  claims_verified: Schema.Boolean,
  consent: Schema.NullOr(ConsentBody),
  /** The latest usage windows seen through the gateway; null before its first request. */
  usage: Schema.NullOr(Usage)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class CreateSessionKeyRequest extends Schema.Class<CreateSessionKeyRequest>("CreateSessionKeyRequest")({
  /** What the key is for (an agent session, a job): shown in lists and the audit trail. */
  label: Schema.String.pipe(Schema.maxLength(200)),
  /** How long the key lives: 60 to 86,400 seconds. */
  ttl_seconds: Schema.Int
}) {}

/**
 * A session key as lists show it: never the key.
 *
 * @since 0.1.0
 * @category schemas
 */
export class SessionKey extends Schema.Class<SessionKey>("SessionKey")({
  id: Schema.String,
  user_id: Schema.String,
  label: Schema.String,
  created_at: Time,
  expires_at: Time,
  revoked_at: Schema.NullOr(Time),
  /** Requests made with it (counted in memory, written every minute). */
  uses: Schema.Number,
  last_used_at: Schema.NullOr(Time)
}) {}

/**
 * A new session key: `key` is shown this once.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CreatedSessionKey extends Schema.Class<CreatedSessionKey>("CreatedSessionKey")({
  id: Schema.String,
  user_id: Schema.String,
  label: Schema.String,
  key: Schema.Redacted(Schema.String),
  created_at: Time,
  expires_at: Time,
  /** The OpenAI-compatible base URL to give an agent with the key (`OPENAI_BASE_URL`). */
  base_url: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class SessionKeyList extends Schema.Class<SessionKeyList>("SessionKeyList")({
  sessions: Schema.Array(SessionKey)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class TokenRequest extends Schema.Class<TokenRequest>("TokenRequest")({
  /** The token must stay valid this long (refreshed sooner if need be). Default 0: valid beyond the leeway. */
  min_ttl_seconds: Schema.optional(Schema.Int),
  /** A label for the audit trail (an agent session, a job). */
  label: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  /** The access token the backend refused (HTTP 401): another is returned, refreshed if need be. */
  rejected_access_token: Schema.optional(Schema.Redacted(Schema.String.pipe(Schema.maxLength(20_000))))
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class Token extends Schema.Class<Token>("Token")({
  access_token: Schema.Redacted(Schema.String),
  token_type: Schema.Literal("Bearer"),
  expires_at: Time,
  expires_in: Schema.Number,
  account_id: Schema.NullOr(Schema.String),
  /** What a Responses client needs beside the token: send `Authorization: Bearer <access_token>` and these headers. */
  llm: Schema.Struct({ base_url: Schema.String, headers: Schema.Record({ key: Schema.String, value: Schema.String }) })
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class SignOut extends Schema.Class<SignOut>("SignOut")({
  user_id: Schema.String,
  signed_in: Schema.Boolean,
  revoke: Schema.Literal("revoked", "failed", "skipped")
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class Erased extends Schema.Class<Erased>("Erased")({
  user_id: Schema.String,
  erased: Schema.Literal(true),
  revoke: Schema.Literal("revoked", "failed", "skipped")
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class AuditEvent extends Schema.Class<AuditEvent>("AuditEvent")({
  id: Schema.Number,
  user_id: Schema.NullOr(Schema.String),
  event: Audit.EventName,
  actor: Schema.String,
  request_id: Schema.NullOr(Schema.String),
  at: Time,
  detail: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) })
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class AuditPage extends Schema.Class<AuditPage>("AuditPage")({
  events: Schema.Array(AuditEvent),
  /** Pass as `after` for the next page; null when there is no more for now. */
  next_cursor: Schema.NullOr(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class WebhookRequest extends Schema.Class<WebhookRequest>("WebhookRequest")({
  /** Where events are POSTed: https (http only on a loopback address, unless the operator allows it). */
  url: Schema.String.pipe(Schema.maxLength(2000)),
  /** Send `usage.threshold` when a usage window crosses this percentage (1 to 100); absent or null: never. */
  usage_threshold_percent: Schema.optional(Schema.NullOr(Schema.Number))
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class Webhook extends Schema.Class<Webhook>("Webhook")({
  url: Schema.String,
  usage_threshold_percent: Schema.NullOr(Schema.Number),
  created_at: Time,
  updated_at: Time,
  /**
   * The signing secret, only when it was just made (the webhook's creation, a rotation): shown this once, stored
   * encrypted. Verify `subauth-signature` with it.
   */
  secret: Schema.optional(Schema.Redacted(Schema.String))
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class WebhookRemoved extends Schema.Class<WebhookRemoved>("WebhookRemoved")({
  removed: Schema.Boolean
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class WebhookDelivery extends Schema.Class<WebhookDelivery>("WebhookDelivery")({
  /** The event's id (`subauth-delivery`, and `id` in the body). */
  id: Schema.String,
  event: Webhooks.EventType,
  user_id: Schema.NullOr(Schema.String),
  status: Schema.Literal("pending", "delivered", "failed"),
  attempts: Schema.Number,
  created_at: Time,
  next_attempt_at: Schema.NullOr(Time),
  delivered_at: Schema.NullOr(Time),
  /** The HTTP status of the last answer. */
  last_status: Schema.NullOr(Schema.Number),
  /** Why the last attempt failed: `HTTP 503`, `timeout`, `ECONNREFUSED`, … */
  last_error: Schema.NullOr(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export class WebhookDeliveries extends Schema.Class<WebhookDeliveries>("WebhookDeliveries")({
  /** Newest first. */
  deliveries: Schema.Array(WebhookDelivery)
}) {}

const BoolParam = Schema.Literal("true", "false")

/**
 * @since 0.1.0
 * @category groups
 */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(Schema.Struct({ status: Schema.Literal("ok") })))
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
  )
  .annotate(OpenApi.Description, "Liveness, and readiness (the database answers and its migrations are current). No key needed.")
{}

/**
 * @since 0.1.0
 * @category groups
 */
export class ConnectGroup extends HttpApiGroup.make("connect")
  .add(
    HttpApiEndpoint.post("create", "/v1/connect-sessions")
      .setPayload(CreateSessionRequest)
      .addSuccess(Session, { status: 201 })
      .annotate(OpenApi.Summary, "Start connecting a user's ChatGPT account")
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/connect-sessions/${SessionIdParam}`
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "A connect session's state")
  )
  .add(
    HttpApiEndpoint.post("consent")`/v1/connect-sessions/${SessionIdParam}/consent`
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "Record that the user accepted the terms, and start the sign-in")
  )
  .add(
    HttpApiEndpoint.post("redirect")`/v1/connect-sessions/${SessionIdParam}/redirect`
      .setPayload(RedirectRequest)
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "Finish a paste sign-in with the address the browser ended on")
  )
  .middleware(TenantAuth)
{}

/**
 * @since 0.1.0
 * @category groups
 */
export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.get("connection")`/v1/users/${UserIdParam}/connection`
      .addSuccess(Connection)
      .annotate(OpenApi.Summary, "A user's connection: status, account, plan, expiry, consent; never a token")
  )
  .add(
    HttpApiEndpoint.post("token")`/v1/users/${UserIdParam}/token`
      .setPayload(TokenRequest)
      .addSuccess(Token)
      .annotate(OpenApi.Summary, "A short-lived access token (refreshed when due); never the refresh or id token")
  )
  .add(
    HttpApiEndpoint.del("signOut")`/v1/users/${UserIdParam}/connection`
      .setUrlParams(Schema.Struct({ revoke: Schema.optional(BoolParam) }))
      .addSuccess(SignOut)
      .annotate(
        OpenApi.Description,
        "Signs the user out: revokes the sign-in at the issuer (default; `revoke=false` only deletes it here) and deletes " +
          "its tokens. Revoking may also end the user's other sessions of the same sign-in."
      )
  )
  .add(
    HttpApiEndpoint.del("erase")`/v1/users/${UserIdParam}`
      .addSuccess(Erased)
      .annotate(OpenApi.Description, "Erases everything of the user (revoking the sign-in first), except the audit record of the erasure.")
  )
  .middleware(TenantAuth)
{}

/**
 * @since 0.1.0
 * @category groups
 */
export class SessionKeysGroup extends HttpApiGroup.make("sessionKeys")
  .add(
    HttpApiEndpoint.post("create")`/v1/users/${UserIdParam}/sessions`
      .setPayload(CreateSessionKeyRequest)
      .addSuccess(CreatedSessionKey, { status: 201 })
      .annotate(
        OpenApi.Description,
        "A session key for a connected user's agent session: it calls the OpenAI-compatible gateway (`base_url`) with " +
          "the user's subscription and never sees an OpenAI token. Shown once; lives at most a day."
      )
  )
  .add(
    HttpApiEndpoint.get("list")`/v1/users/${UserIdParam}/sessions`
      .addSuccess(SessionKeyList)
      .annotate(OpenApi.Summary, "A user's session keys, newest first, without the keys")
  )
  .add(
    HttpApiEndpoint.del("revoke")`/v1/sessions/${SessionIdParam}`
      .addSuccess(SessionKey)
      .annotate(OpenApi.Summary, "Revoke a session key: refused at once here, within a second on every replica")
  )
  .middleware(TenantAuth)
{}

/**
 * @since 0.1.0
 * @category groups
 */
export class AuditGroup extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/v1/audit")
      .setUrlParams(Schema.Struct({
        user_id: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
        after: Schema.optional(Schema.String.pipe(Schema.maxLength(20))),
        limit: Schema.optional(Schema.String.pipe(Schema.maxLength(6)))
      }))
      .addSuccess(AuditPage)
      .annotate(OpenApi.Summary, "The tenant's audit trail, oldest first, by cursor")
  )
  .middleware(TenantAuth)
{}

/**
 * @since 0.1.0
 * @category groups
 */
export class WebhookGroup extends HttpApiGroup.make("webhook")
  .add(
    HttpApiEndpoint.put("configure", "/v1/webhook")
      .setPayload(WebhookRequest)
      .addSuccess(Webhook)
      .annotate(OpenApi.Summary, "Set the tenant's webhook; the first time, the answer holds its signing secret (once)")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/webhook")
      .addSuccess(Webhook)
      .annotate(OpenApi.Summary, "The tenant's webhook (never its secret)")
  )
  .add(
    HttpApiEndpoint.del("remove", "/v1/webhook")
      .addSuccess(WebhookRemoved)
      .annotate(OpenApi.Summary, "Remove the tenant's webhook; deliveries still pending are given up")
  )
  .add(
    HttpApiEndpoint.post("rotateSecret", "/v1/webhook/rotate-secret")
      .addSuccess(Webhook)
      .annotate(OpenApi.Summary, "A new signing secret, shown once; the old one stops signing at once")
  )
  .add(
    HttpApiEndpoint.get("deliveries", "/v1/webhook/deliveries")
      .setUrlParams(Schema.Struct({ limit: Schema.optional(Schema.String.pipe(Schema.maxLength(6))) }))
      .addSuccess(WebhookDeliveries)
      .annotate(OpenApi.Summary, "The delivery log, newest first: attempts, last status and error; never a payload")
  )
  .annotate(
    OpenApi.Description,
    "Events about the tenant's users POSTed to its URL, signed (`subauth-signature: t=…,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`), " +
      "retried with backoff: `connection.connected`, `connection.reauth_required`, `connection.revoked`, `usage.threshold`."
  )
  .middleware(TenantAuth)
{}

/**
 * @since 0.1.0
 * @category api
 */
export class BrokerApi extends HttpApi.make("subauth-broker")
  .add(HealthGroup)
  .add(ConnectGroup)
  .add(UsersGroup)
  .add(SessionKeysGroup)
  .add(AuditGroup)
  .add(WebhookGroup)
  // Every route may answer any of these; each error's `code` says which case it is.
  .addError(InvalidRequest)
  .addError(NotFound)
  .addError(Conflict)
  .addError(TooManyRequests)
  .addError(Internal)
  .addError(Unavailable)
  .annotate(OpenApi.Title, "subauth broker")
  .annotate(
    OpenApi.Description,
    "Many users' ChatGPT sign-ins in one service: connect sessions, short-lived access tokens, sign-out and an audit trail."
  )
{}
