/**
 * Connect sessions: how a user of an app signs in with ChatGPT through the
 * broker. The app creates a session for its user and shows the public part;
 * the secrets (the device code's id, the PKCE verifier, the state) stay in the
 * broker, encrypted.
 *
 * - **device**: the broker asks the issuer for a code and shows `user_code`
 *   and `verification_uri`; the user enters it, and the broker polls the
 *   issuer itself, at the issuer's interval. Polling is one loop per broker
 *   process, over the sessions that are due, each claimed in the database
 *   for the poll, so replicas share the work and a session is polled by one
 *   of them at a time: many pending sessions cost no more than their polls.
 * - **paste**: the app shows the authorize link; the browser ends on an
 *   address that does not load (OpenAI accepts only `localhost:1455/1457`
 *   redirects for this client), which the user pastes back; the state is
 *   verified before the code is exchanged.
 *
 * Without the user's consent to the terms (`accept_terms`, attested by the
 * app) a session waits: no code is requested before it. Each session ends
 * `connected`, `expired`, `denied` or `failed`, with a reason the app can
 * act on.
 *
 * Longer than 650 lines: one concern, a session's life (create, consent,
 * method, restart, the CLI's hand-over, paste, the poll loop and its claims),
 * whose steps share the row, its encrypted secrets and the transitions;
 * splitting them would spread one state machine over several files.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { DeviceLogin, PasteLogin, Provider, SecureRandom } from "@subauth/core"
import type { Login } from "@subauth/core"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option, Schema } from "effect"
import { createHash } from "node:crypto"
import { Audit } from "./Audit.js"
import { BrokerError, DatabaseError, type VaultError } from "./BrokerError.js"
import { checkUserId, Connections, type ConsentRecord } from "./Connections.js"
import type { Caller } from "./Tenants.js"
import { randomId } from "./Tenants.js"
import { Vault } from "./Vault.js"
import { forkLoop } from "./internal/loop.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Method = "device" | "paste" | "page" | "cli"

/**
 * The methods that sign in through the broker itself (the others: `page`, the
 * user picks on the connect page; `cli`, `subauth connect` on the user's computer).
 *
 * @since 0.1.0
 * @category models
 */
export type FlowMethod = "device" | "paste"

/**
 * @since 0.1.0
 * @category models
 */
export type Status = "pending" | "connected" | "expired" | "denied" | "failed"

/**
 * Why a session is where it is: stable codes an app can show.
 *
 * @since 0.1.0
 * @category models
 */
export const reasons = {
  consent_required: "the user has not yet accepted the terms: record their consent to start the sign-in",
  device_login_disabled:
    "device code sign-in is off for this account or workspace: turn on device code authorization for Codex in ChatGPT " +
    "(Settings → Security; in a workspace an admin may have to allow it), or use the paste method",
  code_expired: "the code expired before the sign-in finished: start a new session",
  access_denied: "the sign-in was declined",
  missing_codex_entitlement: "Codex is not enabled for the user's workspace; their workspace administrator can grant access",
  exchange_failed: "the issuer did not accept the sign-in's code: start a new session",
  issuer_unavailable: "the sign-in server kept failing: start a new session later",
  id_token_invalid: "the sign-in's identity could not be verified",
  storage_failed: "the sign-in could not be stored",
  too_many_attempts: "too many wrong addresses were pasted: start a new session",
  restarted: "the user started over on the connect page",
  different_account:
    "the sign-in is of another ChatGPT account than the one this user connected before; sign in with that account, " +
    "or have the app sign the user out first"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = keyof typeof reasons

/**
 * A session as the app sees it: never a secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface View {
  readonly id: string
  readonly userId: string
  readonly method: Method
  readonly status: Status
  readonly reason: Option.Option<Reason>
  readonly description: Option.Option<string>
  readonly consent: "required" | "given"
  readonly createdAt: number
  readonly expiresAt: number
  readonly returnUrl: Option.Option<string>
  readonly device: Option.Option<{ readonly userCode: string; readonly verificationUri: string; readonly intervalSeconds: number }>
  readonly paste: Option.Option<{ readonly authorizeUrl: string; readonly redirectUri: string }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a session waits for the user. Default 15 minutes (a device code's own expiry may be sooner). */
  readonly ttl?: Duration.DurationInput
  /** Pending sessions allowed per user. Default 3. */
  readonly maxPendingPerUser?: number
  /** Pending sessions allowed per tenant. Default 1,000. */
  readonly maxPendingPerTenant?: number
  /** How often the poll loop looks for due sessions. Default 500 ms. */
  readonly tick?: Duration.DurationInput
  /** How long a replica's claim on a session it polls lasts. Default 60 seconds. */
  readonly claim?: Duration.DurationInput
  /** The redirect address of paste sessions. Default `PasteLogin.DEFAULT_REDIRECT_URI`. */
  readonly redirectUri?: string
  /** A name for this process in claims (diagnostics only). */
  readonly holderName?: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULTS = {
  ttl: Duration.minutes(15),
  maxPendingPerUser: 3,
  maxPendingPerTenant: 1000,
  tick: Duration.millis(500),
  claim: Duration.seconds(60),
  maxPasteAttempts: 5,
  maxPollFailures: 10,
  maxRestarts: 5
} as const

/**
 * How long the connect page's link may wait for its first (and only) use.
 *
 * @since 0.1.0
 * @category constants
 */
export const LINK_TTL_MILLIS = 10 * 60_000

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace ConnectSessions {
  /**
   * @since 0.1.0
   * @category models
   */
  export type Error = BrokerError | DatabaseError | VaultError

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * A new session. Without a method the user picks one on the connect page;
     * `pageBase` is the broker's public address, for the page's link (`connectUrl`,
     * single use, valid {@link LINK_TTL_MILLIS}).
     */
    readonly create: (
      caller: Caller,
      request: {
        readonly userId: string
        readonly method: Method
        readonly acceptTerms: boolean
        readonly returnUrl?: string | undefined
        readonly locale?: string | undefined
        readonly pageBase: string
      }
    ) => Effect.Effect<View & { readonly connectUrl: string }, Error>
    readonly get: (tenantId: string, id: string) => Effect.Effect<View, Error>
    /**
     * Records that the user accepted the terms (attested by `attestedBy`; the
     * hash of the text shown, when it was not the default English one), and
     * starts the sign-in.
     */
    readonly consent: (tenantId: string, id: string, attestedBy: string, textSha256?: string) => Effect.Effect<View, Error>
    /** The method the user picked on the connect page: starts it. */
    readonly choose: (tenantId: string, id: string, method: FlowMethod | "cli") => Effect.Effect<View, Error>
    /**
     * Starts over for the same user, return address and consent (a code
     * expired, device codes were off): a new session takes the old one's page.
     */
    readonly restart: (tenantId: string, id: string, method: Method) => Effect.Effect<View, Error>
    /** Tokens `subauth connect` obtained on the user's computer for a session in `cli` mode. */
    readonly complete: (tenantId: string, id: string, obtained: Login.Obtained) => Effect.Effect<View, Error>
    /** The paste method's second step: the address the browser ended on. */
    readonly submitRedirect: (tenantId: string, id: string, url: string) => Effect.Effect<View, Error>
    /** One round of the poll loop: expires what ran out, polls what is due. The number of sessions polled. */
    readonly pollDue: Effect.Effect<number, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConnectSessions extends Context.Tag("@subauth/broker/ConnectSessions")<ConnectSessions, ConnectSessions.Service>() {}

const SessionRow = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  user_id: Schema.String,
  method: Schema.Literal("device", "paste", "page", "cli"),
  status: Schema.Literal("pending", "connected", "expired", "denied", "failed"),
  reason: Schema.NullOr(Schema.String),
  description: Schema.NullOr(Schema.String),
  created_at: Int,
  expires_at: Int,
  consent_at: Schema.NullOr(Int),
  user_code: Schema.NullOr(Schema.String),
  verification_uri: Schema.NullOr(Schema.String),
  device_auth_id: Schema.NullOr(Schema.String),
  interval_ms: Schema.NullOr(Int),
  poll_failures: Int,
  authorize_url: Schema.NullOr(Schema.String),
  redirect_uri: Schema.NullOr(Schema.String),
  oauth_state: Schema.NullOr(Schema.String),
  code_verifier: Schema.NullOr(Schema.String),
  paste_attempts: Int,
  return_url: Schema.NullOr(Schema.String),
  locale: Schema.NullOr(Schema.String),
  restarts: Int,
  replaced_by: Schema.NullOr(Schema.String)
})
type SessionRow = typeof SessionRow.Type

const COLUMNS = `id, tenant_id, user_id, method, status, reason, description, created_at, expires_at, consent_at, user_code,
  verification_uri, device_auth_id, interval_ms, poll_failures, authorize_url, redirect_uri, oauth_state, code_verifier, paste_attempts,
  return_url, locale, restarts, replaced_by`

const isLoopbackHost = Provider.isLoopback

const PAGE_CONSENT = "on the connect page the user accepts the terms themselves: send them to connect_url, " +
  "or create a device or paste session to record the consent the app collected"

const isReason = (value: string | null): value is Reason => value !== null && value in reasons

/**
 * The locales of the connect page.
 *
 * @since 0.1.0
 * @category models
 */
export const LOCALES = ["en", "de"] as const

const checkLocale = (locale: string) =>
  (LOCALES as ReadonlyArray<string>).includes(locale)
    ? Effect.succeed(locale)
    : Effect.fail(new BrokerError({ code: "invalid_request", description: `"locale" must be one of ${LOCALES.join(", ")}` }))

/**
 * Whether `url` is under `prefix`: the same origin, and its path starting with
 * the prefix's path at a segment boundary.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isUnder = (url: URL, prefix: string): boolean => {
  if (!URL.canParse(prefix)) return false
  const allowed = new URL(prefix)
  if (allowed.origin !== url.origin) return false
  const base = allowed.pathname.endsWith("/") ? allowed.pathname : `${allowed.pathname}/`
  return url.pathname === allowed.pathname || url.pathname.startsWith(base)
}

/**
 * The hash a single-use secret (a page link, a page cookie, a hand-off code) is found by.
 *
 * @since 0.1.0
 * @category utils
 */
export const hashSecret = (secret: string): string => createHash("sha256").update(secret, "utf8").digest("base64url")

const viewOf = (row: SessionRow): View => ({
  id: row.id,
  userId: row.user_id,
  method: row.method,
  status: row.status,
  reason: isReason(row.reason) ? Option.some(row.reason) : Option.none(),
  description: Option.fromNullable(row.description ?? (isReason(row.reason) ? reasons[row.reason] : null)),
  consent: row.consent_at === null ? "required" : "given",
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  returnUrl: Option.fromNullable(row.return_url),
  device: row.method === "device" && row.user_code !== null && row.verification_uri !== null
    ? Option.some({ userCode: row.user_code, verificationUri: row.verification_uri, intervalSeconds: Math.round((row.interval_ms ?? 5000) / 1000) })
    : Option.none(),
  paste: row.method === "paste" && row.authorize_url !== null && row.redirect_uri !== null
    ? Option.some({ authorizeUrl: row.authorize_url, redirectUri: row.redirect_uri })
    : Option.none()
})

const notFound = (id: string) =>
  new BrokerError({ code: "not_found", description: `there is no connect session ${JSON.stringify(id.slice(0, 64))}` })

// How a flow's failure ends a session: its outcome, or a transient failure the session survives.
const outcomeOf = (error: Login.FlowError | Login.Error | BrokerError | DatabaseError | VaultError):
  | { readonly _tag: "End"; readonly status: "expired" | "denied" | "failed"; readonly reason: Reason }
  | { readonly _tag: "Transient" } => {
  switch (error._tag) {
    case "TransportError":
      return { _tag: "Transient" }
    case "LoginError":
      switch (error.reason) {
        case "DeviceLoginDisabled":
          return { _tag: "End", status: "failed", reason: "device_login_disabled" }
        case "DeviceCodeExpired":
          return { _tag: "End", status: "expired", reason: "code_expired" }
        case "AuthorizationDenied":
          return { _tag: "End", status: "denied", reason: "access_denied" }
        case "MissingCodexEntitlement":
          return { _tag: "End", status: "failed", reason: "missing_codex_entitlement" }
        default:
          return { _tag: "End", status: "failed", reason: "exchange_failed" }
      }
    case "TokenEndpointError":
      return { _tag: "End", status: "failed", reason: "exchange_failed" }
    case "ClaimsError":
      return { _tag: "End", status: "failed", reason: "id_token_invalid" }
    case "BrokerError":
      return error.code === "different_account"
        ? { _tag: "End", status: "failed", reason: "different_account" }
        : { _tag: "End", status: "failed", reason: "storage_failed" }
    default:
      return { _tag: "End", status: "failed", reason: "storage_failed" }
  }
}

/**
 * What connect sessions stand on.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements =
  | SqlClient.SqlClient | Vault | Audit | Connections | SecureRandom.SecureRandom | Provider.Provider | HttpClient.HttpClient

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ConnectSessions.Service, never, Requirements> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const vault = yield* Vault
    const audit = yield* Audit
    const connections = yield* Connections
    const context = yield* Effect.context<SecureRandom.SecureRandom | Provider.Provider | HttpClient.HttpClient>()
    const random = yield* SecureRandom.SecureRandom
    const ttlMillis = Duration.toMillis(Duration.decode(options.ttl ?? DEFAULTS.ttl))
    const claimMillis = Duration.toMillis(Duration.decode(options.claim ?? DEFAULTS.claim))
    const maxPerUser = options.maxPendingPerUser ?? DEFAULTS.maxPendingPerUser
    const maxPerTenant = options.maxPendingPerTenant ?? DEFAULTS.maxPendingPerTenant
    const holderName = options.holderName ?? `pid ${process.pid}`

    const read = (tenantId: string, id: string) =>
      sql`SELECT ${sql.literal(COLUMNS)} FROM connect_sessions WHERE tenant_id = ${tenantId} AND id = ${id}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(SessionRow))),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.mapError(dbFailed("reading a connect session"))
      )

    const readOrFail = (tenantId: string, id: string) =>
      Effect.flatMap(read(tenantId, id), Option.match({ onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed }))

    // Ends a pending session (only if it is still pending, and, for a claimed one, still ours).
    const end = (row: Pick<SessionRow, "id" | "tenant_id" | "user_id">, status: Exclude<Status, "pending">, reason: Reason | null) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const ended = yield* sql`UPDATE connect_sessions SET status = ${status}, reason = ${reason}, updated_at = ${now},
            device_auth_id = NULL, oauth_state = NULL, code_verifier = NULL, claim_holder = NULL, claim_until = NULL
          WHERE id = ${row.id} AND tenant_id = ${row.tenant_id} AND status = 'pending' RETURNING id`.pipe(
          Effect.mapError(dbFailed("ending a connect session"))
        )
        if (ended.length > 0 && status !== "connected") {
          yield* audit.record(row.tenant_id, `session.${status}`, { userId: row.user_id, detail: { session: row.id, ...(reason ? { reason } : {}) } })
        }
      })

    // Step one of the chosen method, once there is consent.
    const start = (row: SessionRow) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // `page`: the user picks on the page; `cli`: `subauth connect` brings the tokens. Nothing to ask the issuer yet.
        if (row.method === "page" || row.method === "cli") return
        if (row.method === "device") {
          const code = yield* DeviceLogin.requestCode.pipe(Effect.provide(context), Effect.either)
          if (code._tag === "Left") {
            const outcome = outcomeOf(code.left)
            if (outcome._tag === "Transient") {
              return yield* new BrokerError({
                code: "issuer_unavailable",
                description: "the sign-in server did not give a device code; try again shortly",
                retryAfter: 5
              })
            }
            return yield* end(row, outcome.status, outcome.reason)
          }
          const deviceAuthId = yield* vault.encrypt(row.tenant_id, "connect_sessions.device_auth_id", row.id, code.right.deviceAuthId)
          const intervalMs = Duration.toMillis(code.right.interval)
          const expiresAt = Math.min(
            row.expires_at,
            Option.getOrElse(Option.map(code.right.expiresAt, DateTime.toEpochMillis), () => row.expires_at)
          )
          yield* sql`UPDATE connect_sessions SET user_code = ${code.right.userCode}, verification_uri = ${code.right.verificationUrl},
              device_auth_id = ${deviceAuthId}, interval_ms = ${intervalMs}, next_poll_at = ${now + intervalMs},
              expires_at = ${expiresAt}, updated_at = ${now}
            WHERE id = ${row.id} AND status = 'pending'`.pipe(Effect.mapError(dbFailed("starting a connect session")))
        } else {
          const started = yield* PasteLogin.begin(options.redirectUri !== undefined ? { redirectUri: options.redirectUri } : {}).pipe(
            Effect.provide(context)
          )
          const state = yield* vault.encrypt(row.tenant_id, "connect_sessions.oauth_state", row.id, started.state)
          const verifier = yield* vault.encrypt(row.tenant_id, "connect_sessions.code_verifier", row.id, started.verifier)
          yield* sql`UPDATE connect_sessions SET authorize_url = ${started.url}, redirect_uri = ${started.redirectUri},
              oauth_state = ${state}, code_verifier = ${verifier}, updated_at = ${now}
            WHERE id = ${row.id} AND status = 'pending'`.pipe(Effect.mapError(dbFailed("starting a connect session")))
        }
        yield* audit.record(row.tenant_id, "sign_in.started", { userId: row.user_id, detail: { session: row.id, method: row.method } })
      })

    const giveConsent = (row: SessionRow, attestedBy: string, textSha256?: string) =>
      Effect.gen(function*() {
        yield* connections.recordConsent(row.tenant_id, row.user_id, attestedBy, textSha256)
        const now = yield* Clock.currentTimeMillis
        const updated = yield* sql`UPDATE connect_sessions SET consent_at = ${now}, updated_at = ${now}
          WHERE id = ${row.id} AND status = 'pending' AND consent_at IS NULL RETURNING id`.pipe(
          Effect.mapError(dbFailed("recording consent"))
        )
        if (updated.length > 0) yield* start(row)
      })

    // Pending sessions whose time ran out, as ended ones: one tenant's (before counting its sessions), or every tenant's (the loop).
    const expireDue = (now: number, tenantId: string | undefined) =>
      Effect.gen(function*() {
        const expired = yield* sql`UPDATE connect_sessions SET status = 'expired', reason = 'code_expired', updated_at = ${now},
            device_auth_id = NULL, oauth_state = NULL, code_verifier = NULL
          WHERE status = 'pending' AND expires_at <= ${now} ${tenantId === undefined ? sql`` : sql`AND tenant_id = ${tenantId}`}
          RETURNING id, tenant_id, user_id`
        const rows = yield* Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String, tenant_id: Schema.String, user_id: Schema.String })))(
          expired
        )
        for (const row of rows) {
          yield* audit.record(row.tenant_id, "session.expired", { userId: row.user_id, detail: { session: row.id, reason: "code_expired" } })
        }
      }).pipe(Effect.mapError(dbFailed("expiring connect sessions")))

    const create: ConnectSessions.Service["create"] = (caller, request) =>
      Effect.gen(function*() {
        const userId = yield* checkUserId(request.userId)
        if (request.acceptTerms && (request.method === "page" || request.method === "cli")) {
          return yield* new BrokerError({ code: "invalid_request", description: PAGE_CONSENT })
        }
        const now = yield* Clock.currentTimeMillis
        yield* expireDue(now, caller.tenantId)
        const counts = yield* sql`SELECT
            (SELECT COUNT(*) FROM connect_sessions WHERE tenant_id = ${caller.tenantId} AND status = 'pending') AS tenant_pending,
            (SELECT COUNT(*) FROM connect_sessions WHERE tenant_id = ${caller.tenantId} AND user_id = ${userId} AND status = 'pending') AS user_pending`
          .pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ tenant_pending: Int, user_pending: Int })))),
            Effect.mapError(dbFailed("counting connect sessions"))
          )
        const { tenant_pending, user_pending } = counts[0] ?? { tenant_pending: 0, user_pending: 0 }
        if (user_pending >= maxPerUser || tenant_pending >= maxPerTenant) {
          return yield* new BrokerError({
            code: "too_many_sessions",
            description: user_pending >= maxPerUser
              ? `user ${JSON.stringify(userId)} already has ${user_pending} pending connect sessions (at most ${maxPerUser}); finish or let one expire`
              : `the tenant has ${tenant_pending} pending connect sessions (at most ${maxPerTenant})`,
            retryAfter: 30
          })
        }
        const returnUrl = request.returnUrl === undefined ? null : yield* checkReturnUrl(caller.tenantId, request.returnUrl)
        const locale = request.locale === undefined ? null : yield* checkLocale(request.locale)
        const id = yield* randomId("cs_", 32).pipe(Effect.provide(context))
        const link = Buffer.from(yield* random.bytes(32)).toString("base64url")
        yield* sql`INSERT INTO connect_sessions (id, tenant_id, user_id, method, status, created_by, created_at, updated_at, expires_at,
            poll_failures, paste_attempts, return_url, locale, link_hash, link_expires_at)
          VALUES (${id}, ${caller.tenantId}, ${userId}, ${request.method}, 'pending', ${caller.keyId}, ${now}, ${now}, ${now + ttlMillis},
            0, 0, ${returnUrl}, ${locale}, ${hashSecret(link)}, ${now + Math.min(LINK_TTL_MILLIS, ttlMillis)})`
          .pipe(Effect.mapError(dbFailed("creating a connect session")))
        const row = yield* readOrFail(caller.tenantId, id)
        if (request.acceptTerms) {
          yield* giveConsent(row, `app:${caller.keyId}`).pipe(
            // A session the issuer could not start is not left behind: the app tries again.
            Effect.tapError(() => sql`DELETE FROM connect_sessions WHERE id = ${id}`.pipe(Effect.ignore))
          )
        }
        return { ...viewOf(yield* readOrFail(caller.tenantId, id)), connectUrl: `${request.pageBase.replace(/\/+$/, "")}/connect/l/${link}` }
      })

    // A return address must start with one of the tenant's allowed prefixes (no open redirect from the page).
    const checkReturnUrl = (tenantId: string, returnUrl: string) =>
      Effect.gen(function*() {
        const invalid = (why: string) => new BrokerError({ code: "invalid_request", description: `"return_url" ${why}` })
        if (returnUrl.length > 2000 || !URL.canParse(returnUrl)) return yield* invalid("is not a URL")
        const url = new URL(returnUrl)
        if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
          return yield* invalid("must be https (or http on a loopback host)")
        }
        const allowed = yield* sql<{ prefix: string }>`SELECT prefix FROM return_urls WHERE tenant_id = ${tenantId}`.pipe(
          Effect.mapError(dbFailed("reading the return addresses"))
        )
        if (!allowed.some((row) => isUnder(url, row.prefix))) {
          return yield* invalid("is not on the tenant's list of return addresses (subauth broker tenant return-url add …)")
        }
        return url.toString()
      })

    const get = (tenantId: string, id: string) =>
      Effect.gen(function*() {
        let row = yield* readOrFail(tenantId, id)
        // Started over on the page: the id the app holds answers with the newest session.
        for (let hops = 0; row.replaced_by !== null && hops <= DEFAULTS.maxRestarts; hops++) {
          row = yield* readOrFail(tenantId, row.replaced_by)
        }
        if (row.status === "pending" && (yield* Clock.currentTimeMillis) >= row.expires_at) {
          yield* end(row, "expired", "code_expired")
          return viewOf(yield* readOrFail(tenantId, row.id))
        }
        return viewOf(row)
      })

    const notPending = (row: SessionRow) =>
      new BrokerError({
        code: "session_not_pending",
        description: `the connect session has ended (${row.status}${row.reason ? `: ${row.reason}` : ""}); start a new one`
      })

    const consent = (tenantId: string, id: string, attestedBy: string, textSha256?: string) =>
      Effect.gen(function*() {
        const row = yield* readOrFail(tenantId, id)
        if (row.status !== "pending") return yield* notPending(row)
        if ((row.method === "page" || row.method === "cli") && attestedBy !== "user") {
          return yield* new BrokerError({ code: "invalid_request", description: PAGE_CONSENT })
        }
        if (row.consent_at === null) yield* giveConsent(row, attestedBy, textSha256)
        return yield* get(tenantId, id)
      })

    const choose = (tenantId: string, id: string, method: FlowMethod | "cli") =>
      Effect.gen(function*() {
        const row = yield* readOrFail(tenantId, id)
        if (row.status !== "pending") return yield* notPending(row)
        if (row.consent_at === null) return yield* new BrokerError({ code: "consent_required", description: reasons.consent_required })
        const now = yield* Clock.currentTimeMillis
        const chosen = yield* sql`UPDATE connect_sessions SET method = ${method}, updated_at = ${now}
          WHERE id = ${id} AND tenant_id = ${tenantId} AND status = 'pending' AND method = 'page' RETURNING id`.pipe(
          Effect.mapError(dbFailed("choosing a sign-in method"))
        )
        if (chosen.length > 0) {
          yield* start({ ...row, method })
          if (method === "cli") {
            yield* audit.record(tenantId, "sign_in.started", { userId: row.user_id, detail: { session: id, method } })
          }
        }
        return yield* get(tenantId, id)
      })

    const restart = (tenantId: string, id: string, method: Method) =>
      Effect.gen(function*() {
        const row = yield* readOrFail(tenantId, id)
        if (row.restarts >= DEFAULTS.maxRestarts) {
          return yield* new BrokerError({ code: "too_many_sessions", description: "this sign-in was started over too often; go back to the app and start again" })
        }
        const now = yield* Clock.currentTimeMillis
        const next = yield* randomId("cs_", 32).pipe(Effect.provide(context))
        yield* sql.withTransaction(Effect.gen(function*() {
          const page = yield* sql<{ page_hash: string | null }>`SELECT page_hash FROM connect_sessions WHERE id = ${id} AND tenant_id = ${tenantId}`
          yield* sql`UPDATE connect_sessions SET page_hash = NULL, replaced_by = ${next},
              status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END,
              reason = CASE WHEN status = 'pending' THEN 'restarted' ELSE reason END, updated_at = ${now},
              device_auth_id = NULL, oauth_state = NULL, code_verifier = NULL
            WHERE id = ${id} AND tenant_id = ${tenantId}`
          yield* sql`INSERT INTO connect_sessions (id, tenant_id, user_id, method, status, created_by, created_at, updated_at, expires_at,
              consent_at, poll_failures, paste_attempts, return_url, locale, page_hash, restarts)
            VALUES (${next}, ${tenantId}, ${row.user_id}, ${method}, 'pending', ${"page"}, ${now}, ${now}, ${now + ttlMillis},
              ${row.consent_at}, 0, 0, ${row.return_url}, ${row.locale}, ${page[0]?.page_hash ?? null}, ${row.restarts + 1})`
        })).pipe(Effect.mapError(dbFailed("starting over")))
        const fresh = yield* readOrFail(tenantId, next)
        if (fresh.consent_at !== null) yield* start(fresh)
        return yield* get(tenantId, next)
      })

    const complete = (tenantId: string, id: string, obtained: Login.Obtained) =>
      Effect.gen(function*() {
        const row = yield* readOrFail(tenantId, id)
        if (row.status !== "pending" || row.method !== "cli") return yield* notPending(row)
        const stored = yield* Effect.either(finish(row, obtained))
        if (stored._tag === "Left") {
          const outcome = outcomeOf(stored.left)
          yield* end(row, outcome._tag === "End" ? outcome.status : "failed", outcome._tag === "End" ? outcome.reason : "storage_failed")
        }
        return yield* get(tenantId, id)
      })

    // Takes a session for one operation (a poll, or a pasted address), so that no other replica does the same at once.
    const claim = (row: Pick<SessionRow, "id">, holder: string, now: number) =>
      sql`UPDATE connect_sessions SET claim_holder = ${holder}, claim_until = ${now + claimMillis}
        WHERE id = ${row.id} AND status = 'pending' AND (claim_until IS NULL OR claim_until <= ${now}) RETURNING id`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(dbFailed("claiming a connect session"))
      )

    const unclaim = (row: Pick<SessionRow, "id">, holder: string) =>
      sql`UPDATE connect_sessions SET claim_holder = NULL, claim_until = NULL WHERE id = ${row.id} AND claim_holder = ${holder}`.pipe(
        Effect.asVoid,
        Effect.mapError(dbFailed("releasing a connect session"))
      )

    const finish = (row: SessionRow, obtained: Login.Obtained) =>
      Effect.gen(function*() {
        const consented = yield* connections.consentOf(row.tenant_id, row.user_id)
        const record: ConsentRecord = Option.getOrElse(consented, () => ({
          termsVersion: "unknown",
          textSha256: "",
          acceptedAt: row.consent_at ?? 0,
          attestedBy: "unknown"
        }))
        yield* connections.connect(row.tenant_id, row.user_id, obtained, record)
        yield* end(row, "connected", null)
      })

    const submitRedirect = (tenantId: string, id: string, url: string) =>
      Effect.gen(function*() {
        const row = yield* readOrFail(tenantId, id)
        if (row.method !== "paste") {
          return yield* new BrokerError({ code: "invalid_request", description: "this connect session uses the device method: nothing to paste" })
        }
        if (row.status !== "pending") return yield* notPending(row)
        const now = yield* Clock.currentTimeMillis
        if (now >= row.expires_at) {
          yield* end(row, "expired", "code_expired")
          return yield* notPending({ ...row, status: "expired", reason: "code_expired" })
        }
        if (row.consent_at === null || row.oauth_state === null || row.code_verifier === null || row.redirect_uri === null) {
          return yield* new BrokerError({ code: "consent_required", description: reasons.consent_required })
        }
        if (typeof url !== "string" || url.length === 0 || url.length > PasteLogin.MAX_INPUT_LENGTH) {
          return yield* new BrokerError({
            code: "invalid_request",
            description: `"url" must be the address the browser ended on (at most ${PasteLogin.MAX_INPUT_LENGTH} characters)`
          })
        }
        const holder = `${holderName} paste ${(yield* randomId("", 8).pipe(Effect.provide(context)))}`
        if (!(yield* claim(row, holder, now))) {
          return yield* new BrokerError({ code: "session_not_pending", description: "an address for this session is being checked already" })
        }
        return yield* Effect.gen(function*() {
          const attempts = yield* sql`UPDATE connect_sessions SET paste_attempts = paste_attempts + 1
            WHERE id = ${row.id} RETURNING paste_attempts`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ paste_attempts: Int })))),
            Effect.mapError(dbFailed("counting attempts"))
          )
          if ((attempts[0]?.paste_attempts ?? 0) > DEFAULTS.maxPasteAttempts) {
            yield* end(row, "failed", "too_many_attempts")
            return yield* get(tenantId, id)
          }
          const started = {
            redirectUri: row.redirect_uri!,
            state: yield* vault.decrypt(tenantId, "connect_sessions.oauth_state", row.id, row.oauth_state!),
            verifier: yield* vault.decrypt(tenantId, "connect_sessions.code_verifier", row.id, row.code_verifier!)
          }
          const response = yield* PasteLogin.complete(url, started).pipe(Effect.provide(context), Effect.either)
          if (response._tag === "Left") {
            const error = response.left
            if (error._tag === "LoginError" && (error.reason === "StateMismatch" || error.reason === "InvalidInput" || error.reason === "MissingCode")) {
              return yield* new BrokerError({ code: "invalid_request", description: error.message })
            }
            const outcome = outcomeOf(error)
            if (outcome._tag === "Transient") {
              return yield* new BrokerError({ code: "issuer_unavailable", description: "the sign-in server did not answer; paste the address again shortly", retryAfter: 5 })
            }
            yield* end(row, outcome.status, outcome.reason)
            return yield* get(tenantId, id)
          }
          const stored = yield* Effect.either(finish(row, { method: "paste", response: response.right }))
          if (stored._tag === "Left") {
            const outcome = outcomeOf(stored.left)
            yield* end(row, outcome._tag === "End" ? outcome.status : "failed", outcome._tag === "End" ? outcome.reason : "storage_failed")
          }
          return yield* get(tenantId, id)
        }).pipe(Effect.ensuring(Effect.ignore(unclaim(row, holder))))
      })

    // One device session's poll, under our claim.
    const pollOne = (row: SessionRow, holder: string) =>
      Effect.gen(function*() {
        if (row.device_auth_id === null || row.user_code === null) return yield* end(row, "failed", "exchange_failed")
        const deviceAuthId = yield* vault.decrypt(row.tenant_id, "connect_sessions.device_auth_id", row.id, row.device_auth_id)
        const answer = yield* DeviceLogin.pollOnce({ deviceAuthId, userCode: row.user_code }).pipe(Effect.provide(context), Effect.either)
        const now = yield* Clock.currentTimeMillis
        const interval = row.interval_ms ?? 5000
        if (answer._tag === "Right" && answer.right._tag === "Pending") {
          yield* sql`UPDATE connect_sessions SET next_poll_at = ${now + interval}, poll_failures = 0, claim_holder = NULL, claim_until = NULL
            WHERE id = ${row.id} AND claim_holder = ${holder}`
          return
        }
        if (answer._tag === "Right" && answer.right._tag === "Approved") {
          const approved = answer.right
          const obtained = yield* DeviceLogin.exchange(approved).pipe(Effect.provide(context), Effect.either)
          if (obtained._tag === "Left") {
            const outcome = outcomeOf(obtained.left)
            return yield* end(row, outcome._tag === "End" ? outcome.status : "failed", outcome._tag === "End" ? outcome.reason : "exchange_failed")
          }
          const stored = yield* Effect.either(finish(row, { method: "device", response: obtained.right }))
          if (stored._tag === "Left") {
            const outcome = outcomeOf(stored.left)
            yield* end(row, outcome._tag === "End" ? outcome.status : "failed", outcome._tag === "End" ? outcome.reason : "storage_failed")
          }
          return
        }
        const outcome = answer._tag === "Left" ? outcomeOf(answer.left) : ({ _tag: "Transient" } as const)
        if (outcome._tag === "End") return yield* end(row, outcome.status, outcome.reason)
        if (row.poll_failures + 1 >= DEFAULTS.maxPollFailures) return yield* end(row, "failed", "issuer_unavailable")
        // The server is failing: back off, twice the interval.
        yield* sql`UPDATE connect_sessions SET next_poll_at = ${now + 2 * interval}, poll_failures = poll_failures + 1,
            claim_holder = NULL, claim_until = NULL
          WHERE id = ${row.id} AND claim_holder = ${holder}`
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`a connect session poll failed: ${error.message}`)),
        Effect.annotateLogs({ session: row.id })
      )

    const pollDue = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* expireDue(now, undefined)
      const holder = `${holderName} poll ${(yield* randomId("", 8).pipe(Effect.provide(context)))}`
      const claimed = yield* sql`UPDATE connect_sessions SET claim_holder = ${holder}, claim_until = ${now + claimMillis}
        WHERE id IN (
          SELECT id FROM connect_sessions
          WHERE status = 'pending' AND method = 'device' AND next_poll_at <= ${now}
            AND (claim_until IS NULL OR claim_until <= ${now})
          ORDER BY next_poll_at LIMIT 100
        ) AND status = 'pending' AND (claim_until IS NULL OR claim_until <= ${now})
        RETURNING ${sql.literal(COLUMNS)}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(SessionRow))),
        Effect.mapError(dbFailed("claiming due connect sessions"))
      )
      yield* Effect.forEach(claimed, (row) => pollOne(row, holder), { concurrency: 16, discard: true })
      return claimed.length
    })

    return { create, get, consent, choose, restart, complete, submitRedirect, pollDue }
  })

/**
 * The service without its poll loop (tests drive `pollDue`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutPolling = (options: Options = {}): Layer.Layer<ConnectSessions, never, Requirements> =>
  Layer.effect(ConnectSessions, make(options))

/**
 * The service, and its poll loop running for the life of the layer: one
 * round every `tick`. A round that fails (the database is away) is logged and
 * the loop goes on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ConnectSessions, never, Requirements> =>
  Layer.scoped(
    ConnectSessions,
    Effect.gen(function*() {
      const service = yield* make(options)
      const tick = Duration.decode(options.tick ?? DEFAULTS.tick)
      yield* forkLoop({ name: "connect-sessions", what: "connect session polling", round: service.pollDue, pause: Effect.sleep(tick) })
      return service
    })
  )
