/**
 * Webhooks per tenant: the broker tells the app's backend when something
 * happens to one of its users, so the app need not poll.
 *
 * | event | when | `data` besides `user_id` |
 * |---|---|---|
 * | `connection.connected` | a connect session stored a sign-in | `account_id`, `plan`, `method`, `replaced` |
 * | `connection.reauth_required` | the issuer refused the sign-in for good | `reason` (`RefreshTokenReused`, …) |
 * | `connection.revoked` | the app signed the user out, or erased them | `reason` (`signed_out`, `erased`), `issuer_revoke` |
 * | `usage.threshold` | a usage window crossed the tenant's percentage upward | `window`, `used_percent`, `threshold_percent`, `resets_at` |
 *
 * - **Outbox.** An event is a row of `webhook_deliveries`, written by the code
 *   that makes it happen (nothing when the tenant has no webhook). A
 *   deliverer in every broker process claims due rows in the database
 *   (`claim_holder`, `claim_until`), so with replicas each delivery is sent by
 *   one of them at a time, and one that dies mid-send leaves its rows to
 *   another once the claim runs out. Delivery is at least once: receivers
 *   deduplicate by the delivery id.
 * - **Signed.** `subauth-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 *   "<t>.<raw body>")>`, with `subauth-event` (the type) and
 *   `subauth-delivery` (the event's id, the same on every attempt). The
 *   secret (`whsec_…`, 256 random bits from `SecureRandom`) is shown once, at
 *   creation and rotation, and stored encrypted under the tenant's data key
 *   ({@link Vault}). Bodies never hold a token.
 * - **Retried.** A 2xx is delivered; anything else (another status, no answer
 *   within the timeout, a refused connection) is tried again with exponential
 *   backoff and jitter, until {@link DEFAULT_RETRY}'s limits (20 attempts, 24
 *   hours), then `failed`. The delivery log keeps each row's attempts, last
 *   status and last error (a status or an error code, never a body).
 * - **Only http(s)**, and `https` unless the host is a loopback address or
 *   the operator allows plain HTTP (`allowInsecureHttp`). No redirects are
 *   followed; at most 4 KiB of an answer are read.
 * - **Bounded**: a round claims at most `batch` rows and sends `concurrency`
 *   at once; delivered and failed rows are deleted after `retention`.
 *
 * Longer than 650 lines: the outbox's three sides (configuration, events
 * written where they happen, the deliverer with its claims, retries and log)
 * share the tables and the tenant's encrypted secret; the signature is a
 * pure function here that receivers can copy.
 *
 * @since 0.1.0
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Provider, SecureRandom } from "@subauth/core"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { createHmac } from "node:crypto"
import { Audit } from "./Audit.js"
import { BrokerError, DatabaseError, type VaultError } from "./BrokerError.js"
import { randomId } from "./Tenants.js"
import { Vault } from "./Vault.js"
import { forkLoop } from "./internal/loop.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category models
 */
export const EventType = Schema.Literal("connection.connected", "connection.reauth_required", "connection.revoked", "usage.threshold")

/**
 * @since 0.1.0
 * @category models
 */
export type EventType = typeof EventType.Type

/**
 * An event's `data`, besides `user_id`: short, non-secret values.
 *
 * @since 0.1.0
 * @category models
 */
export type Data = Readonly<Record<string, string | number | boolean | null>>

/**
 * A tenant's webhook as shown: never its secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly url: string
  /** `usage.threshold` is sent when a window's used percentage crosses this; none: never. */
  readonly usageThresholdPercent: Option.Option<number>
  readonly createdAt: number
  readonly updatedAt: number
}

/**
 * A configuration as written, and the secret when it was made just now
 * (creation, rotation): the only time it exists outside the vault.
 *
 * @since 0.1.0
 * @category models
 */
export interface Configured {
  readonly config: Config
  readonly secret: Option.Option<Redacted.Redacted<string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export type DeliveryStatus = "pending" | "delivered" | "failed"

/**
 * A row of the delivery log: never the payload's secret or a response body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  /** The event's id: `subauth-delivery`, and `id` in the body. */
  readonly id: string
  readonly event: EventType
  readonly userId: Option.Option<string>
  readonly status: DeliveryStatus
  readonly attempts: number
  readonly createdAt: number
  /** When it is tried next, while pending. */
  readonly nextAttemptAt: Option.Option<number>
  readonly deliveredAt: Option.Option<number>
  /** The HTTP status of the last answer, if there was one. */
  readonly lastStatus: Option.Option<number>
  /** Why the last attempt failed: `HTTP 503`, `timeout`, `ECONNREFUSED`, … */
  readonly lastError: Option.Option<string>
}

/**
 * A usage window as the gateway sees it: its name (`primary`, `secondary`,
 * …), how much of it is used, and when it resets (epoch ms, the backend's
 * absolute time: the same value wherever it is observed).
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageWindow {
  readonly name: string
  readonly usedPercent: number
  readonly resetsAt?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** The first wait after a failed attempt; each next one doubles. Default 30 seconds. */
  readonly base?: Duration.DurationInput
  /** The longest wait between two attempts. Default 1 hour. */
  readonly max?: Duration.DurationInput
  /** Attempts at most. Default 20. */
  readonly maxAttempts?: number
  /** No attempt is made this long after the event. Default 24 hours. */
  readonly maxAge?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_RETRY = {
  base: Duration.seconds(30),
  max: Duration.hours(1),
  maxAttempts: 20,
  maxAge: Duration.hours(24)
} as const

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Allow `http://` webhook URLs on any host, not only loopback ones. The
   * signature still holds, but anyone on the way reads the events. For tests
   * and private networks only.
   */
  readonly allowInsecureHttp?: boolean
  /** How often the deliverer looks for due deliveries. Default 1 second. */
  readonly tick?: Duration.DurationInput
  /** The longest an attempt may take, answer included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput
  /**
   * How long a replica's claim on the rows of a round lasts: longer than sending them all can take (`timeout` ×
   * `batch` / `concurrency`), so that no other replica sends them meanwhile. Default that plus 30 seconds.
   */
  readonly claim?: Duration.DurationInput
  readonly retry?: RetryOptions
  /** Deliveries sent at once by one process. Default 8. */
  readonly concurrency?: number
  /** Deliveries claimed per round at most. Default 50. */
  readonly batch?: number
  /** How long delivered and failed rows stay in the log. Default 30 days. */
  readonly retention?: Duration.DurationInput
  /** A name for this process in claims (diagnostics only). */
  readonly holderName?: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const SIGNATURE_HEADER = "subauth-signature"

/**
 * @since 0.1.0
 * @category constants
 */
export const EVENT_HEADER = "subauth-event"

/**
 * @since 0.1.0
 * @category constants
 */
export const DELIVERY_HEADER = "subauth-delivery"

/**
 * How much of a receiver's answer is read (and then dropped).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ANSWER_BYTES = 4096

/**
 * Rows of the delivery log answered at most.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LOG = 100

/**
 * A `subauth-signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" keyed with the secret's UTF-8 bytes>`.
 *
 * @since 0.1.0
 * @category utils
 */
export const sign = (secret: Redacted.Redacted<string>, timestamp: number, body: string): string =>
  `t=${timestamp},v1=${createHmac("sha256", Redacted.value(secret)).update(`${timestamp}.${body}`, "utf8").digest("hex")}`

/**
 * Windows that tolerate this much difference in `resetsAt` are the same
 * window: a reset time computed from a relative one drifts by a second or two.
 *
 * @since 0.1.0
 * @category constants
 */
export const RESET_TOLERANCE_MILLIS = 5 * 60_000

const validWindow = (w: UsageWindow) =>
  typeof w.name === "string" && w.name.length >= 1 && w.name.length <= 64 && Number.isFinite(w.usedPercent) &&
  (w.resetsAt === undefined || Number.isFinite(w.resetsAt))

/**
 * The windows of `current` whose used percentage crossed `threshold` upward
 * since `previous`: at or above it now, below it before. A window seen for the
 * first time, or one that reset since (its `resetsAt` moved by more than
 * {@link RESET_TOLERANCE_MILLIS}), counts as having been below.
 *
 * @since 0.1.0
 * @category utils
 */
export const crossings = (
  previous: ReadonlyArray<UsageWindow>,
  current: ReadonlyArray<UsageWindow>,
  threshold: number
): ReadonlyArray<UsageWindow> =>
  current.filter((window) => {
    if (!validWindow(window) || window.usedPercent < threshold) return false
    const before = previous.find((p) => p.name === window.name && validWindow(p))
    if (before === undefined) return true
    const samePeriod = before.resetsAt === undefined || window.resetsAt === undefined ||
      Math.abs(before.resetsAt - window.resetsAt) <= RESET_TOLERANCE_MILLIS
    return !samePeriod || before.usedPercent < threshold
  })

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Webhooks {
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
     * Sets the tenant's webhook. The first time a secret is made and returned
     * (once); later calls change the URL and threshold and keep the secret.
     * `usageThresholdPercent`: 1 to 100, or none for no `usage.threshold` events.
     */
    readonly configure: (
      tenantId: string,
      request: { readonly url: string; readonly usageThresholdPercent?: number | undefined }
    ) => Effect.Effect<Configured, Error>
    /** The tenant's webhook; `not_found` when there is none. */
    readonly get: (tenantId: string) => Effect.Effect<Config, Error>
    /** Removes the webhook; deliveries still pending are given up. False when there was none. */
    readonly remove: (tenantId: string) => Effect.Effect<boolean, DatabaseError>
    /** A new secret, returned once; the old one stops signing at once. */
    readonly rotateSecret: (tenantId: string) => Effect.Effect<Configured, Error>
    /** The delivery log, newest first. */
    readonly deliveries: (tenantId: string, options: { readonly limit: number }) => Effect.Effect<ReadonlyArray<Delivery>, DatabaseError>
    /**
     * Records an event for delivery (nothing when the tenant has no webhook).
     * Inside `sql.withTransaction` it commits or rolls back with the change it reports.
     */
    readonly emit: (tenantId: string, type: EventType, userId: string, data: Data) => Effect.Effect<void, DatabaseError>
    /**
     * What the gateway calls with a connection's previous and new usage
     * windows: a `usage.threshold` event for each window that crossed the
     * tenant's threshold upward (see {@link crossings}), once per window
     * period even when several replicas observe the same crossing. Returns the
     * number of events recorded.
     */
    readonly usageObserved: (
      tenantId: string,
      userId: string,
      previous: ReadonlyArray<UsageWindow>,
      current: ReadonlyArray<UsageWindow>
    ) => Effect.Effect<number, DatabaseError>
    /** One round of the deliverer: claims due deliveries and sends them. The number sent. */
    readonly deliverDue: Effect.Effect<number, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Webhooks extends Context.Tag("@subauth/broker/Webhooks")<Webhooks, Webhooks.Service>() {}

const HookRow = Schema.Struct({
  url: Schema.String,
  secret: Schema.String,
  usage_threshold: Schema.NullOr(Int),
  created_at: Int,
  updated_at: Int
})
type HookRow = typeof HookRow.Type

const DeliveryRow = Schema.Struct({
  event_id: Schema.String,
  event: EventType,
  user_id: Schema.NullOr(Schema.String),
  status: Schema.Literal("pending", "delivered", "failed"),
  attempts: Int,
  next_attempt_at: Int,
  last_status: Schema.NullOr(Int),
  last_error: Schema.NullOr(Schema.String),
  created_at: Int,
  delivered_at: Schema.NullOr(Int)
})

const DueRow = Schema.Struct({
  id: Int,
  tenant_id: Schema.String,
  event_id: Schema.String,
  event: Schema.String,
  payload: Schema.String,
  attempts: Int,
  created_at: Int
})
type DueRow = typeof DueRow.Type

// An attempt's end: the answer's status if there was one, and why it failed (none: delivered).
interface Outcome {
  readonly status: Option.Option<number>
  readonly error: string | null
}

const configOf = (row: HookRow): Config => ({
  url: row.url,
  usageThresholdPercent: Option.fromNullable(row.usage_threshold),
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

const notConfigured = () =>
  new BrokerError({ code: "not_found", description: "the tenant has no webhook; set one with PUT /v1/webhook" })

const invalid = (description: string) => new BrokerError({ code: "invalid_request", description })

/**
 * Checks a webhook URL: http(s) only, `https` unless the host is a loopback
 * address (or `allowInsecureHttp`), no credentials or fragment, at most 2,000
 * characters.
 *
 * @since 0.1.0
 * @category validators
 */
export const checkUrl = (value: string, allowInsecureHttp = false): Effect.Effect<string, BrokerError> => {
  if (typeof value !== "string" || value.length > 2000 || !URL.canParse(value)) return Effect.fail(invalid(`"url" must be an http(s) URL`))
  const url = new URL(value)
  if (url.protocol !== "https:" && url.protocol !== "http:") return Effect.fail(invalid(`"url" must be an http(s) URL`))
  if (url.protocol === "http:" && !allowInsecureHttp && !Provider.isLoopback(url.hostname)) {
    return Effect.fail(invalid(`"url" must use https (plain http only on a loopback address)`))
  }
  if (url.username !== "" || url.password !== "" || url.hash !== "") {
    return Effect.fail(invalid(`"url" must not hold credentials or a fragment`))
  }
  return Effect.succeed(url.toString())
}

const checkThreshold = (value: number | undefined) =>
  value === undefined || (Number.isInteger(value) && value >= 1 && value <= 100)
    ? Effect.succeed(value ?? null)
    : Effect.fail(invalid(`"usage_threshold_percent" must be a whole number from 1 to 100`))

// The secret's AAD owner: one webhook per tenant.
const SECRET_OWNER = "webhook"

/**
 * What webhooks stand on.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = SqlClient.SqlClient | Vault | Audit | SecureRandom.SecureRandom | HttpClient.HttpClient

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Webhooks.Service, never, Requirements> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const vault = yield* Vault
    const audit = yield* Audit
    const random = yield* SecureRandom.SecureRandom
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
    const withRandom = Effect.provideService(SecureRandom.SecureRandom, random)
    const millis = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput) =>
      Duration.toMillis(Duration.decode(input ?? fallback))
    const timeoutMillis = millis(options.timeout, Duration.seconds(10))
    const concurrency = options.concurrency ?? 8
    const batch = options.batch ?? 50
    // The longest a round can take: its rows in waves of `concurrency`, each wave at most `timeout`.
    const roundMillis = timeoutMillis * Math.ceil(batch / concurrency)
    const claimMillis = options.claim !== undefined ? millis(options.claim, 0) : roundMillis + 30_000
    const retentionMillis = millis(options.retention, Duration.days(30))
    const retry = {
      base: millis(options.retry?.base, DEFAULT_RETRY.base),
      max: millis(options.retry?.max, DEFAULT_RETRY.max),
      maxAttempts: options.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
      maxAge: millis(options.retry?.maxAge, DEFAULT_RETRY.maxAge)
    }
    const holderName = options.holderName ?? `pid ${process.pid}`
    // Options are checked when the layer is built: a wrong one is a programming error.
    for (const [name, value] of Object.entries({ timeoutMillis, claimMillis, retentionMillis, ...retry, concurrency, batch })) {
      if (!Number.isFinite(value) || value <= 0) return yield* Effect.die(new TypeError(`webhook option "${name}" must be positive and finite`))
    }
    for (const [name, value] of Object.entries({ maxAttempts: retry.maxAttempts, concurrency, batch })) {
      if (!Number.isInteger(value)) return yield* Effect.die(new TypeError(`webhook option "${name}" must be a whole number`))
    }
    if (claimMillis <= roundMillis) {
      return yield* Effect.die(new TypeError(`webhook option "claim" must be longer than "timeout" × "batch" / "concurrency" (${roundMillis} ms)`))
    }
    let lastCleanup = 0

    const readHook = (tenantId: string) =>
      sql`SELECT url, secret, usage_threshold, created_at, updated_at FROM webhooks WHERE tenant_id = ${tenantId}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(HookRow))),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.mapError(dbFailed("reading a webhook"))
      )

    const newSecret = Effect.map(random.bytes(32), (bytes) => Redacted.make(`whsec_${Buffer.from(bytes).toString("base64url")}`))

    const configure: Webhooks.Service["configure"] = (tenantId, request) =>
      Effect.gen(function*() {
        const url = yield* checkUrl(request.url, options.allowInsecureHttp === true)
        const threshold = yield* checkThreshold(request.usageThresholdPercent)
        const now = yield* Clock.currentTimeMillis
        const detail = { host: new URL(url).host, ...(threshold !== null ? { usage_threshold_percent: threshold } : {}) }
        const update = sql`UPDATE webhooks SET url = ${url}, usage_threshold = ${threshold}, updated_at = ${now}
          WHERE tenant_id = ${tenantId} RETURNING tenant_id`.pipe(Effect.mapError(dbFailed("changing a webhook")))
        let secret = Option.none<Redacted.Redacted<string>>()
        if ((yield* update).length === 0) {
          const made = yield* newSecret
          const sealed = yield* vault.encrypt(tenantId, "webhooks.secret", SECRET_OWNER, made)
          const inserted = yield* sql`INSERT INTO webhooks (tenant_id, url, secret, usage_threshold, created_at, updated_at)
            VALUES (${tenantId}, ${url}, ${sealed}, ${threshold}, ${now}, ${now})
            ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id`.pipe(Effect.mapError(dbFailed("creating a webhook")))
          // Another request created it meanwhile: that one's secret stands; this one changes the rest.
          if (inserted.length > 0) secret = Option.some(made)
          else yield* update
        }
        yield* audit.record(tenantId, "webhook.configured", { detail: { ...detail, created: Option.isSome(secret) } })
        const row = yield* Effect.flatMap(readHook(tenantId), Option.match({ onNone: () => Effect.fail(notConfigured()), onSome: Effect.succeed }))
        return { config: configOf(row), secret }
      })

    const get = (tenantId: string) =>
      Effect.flatMap(readHook(tenantId), Option.match({ onNone: () => Effect.fail(notConfigured()), onSome: (row) => Effect.succeed(configOf(row)) }))

    const remove = (tenantId: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const removed = yield* sql.withTransaction(Effect.gen(function*() {
          const deleted = yield* sql`DELETE FROM webhooks WHERE tenant_id = ${tenantId} RETURNING tenant_id`
          yield* sql`UPDATE webhook_deliveries SET status = 'failed', last_error = ${"the webhook was removed"}, next_attempt_at = ${now},
              claim_holder = NULL, claim_until = NULL
            WHERE tenant_id = ${tenantId} AND status = 'pending'`
          return deleted.length > 0
        })).pipe(Effect.mapError(dbFailed("removing a webhook")))
        if (removed) yield* audit.record(tenantId, "webhook.removed")
        return removed
      })

    const rotateSecret = (tenantId: string) =>
      Effect.gen(function*() {
        const made = yield* newSecret
        const sealed = yield* vault.encrypt(tenantId, "webhooks.secret", SECRET_OWNER, made)
        const now = yield* Clock.currentTimeMillis
        const updated = yield* sql`UPDATE webhooks SET secret = ${sealed}, updated_at = ${now} WHERE tenant_id = ${tenantId} RETURNING tenant_id`.pipe(
          Effect.mapError(dbFailed("rotating a webhook secret"))
        )
        if (updated.length === 0) return yield* notConfigured()
        yield* audit.record(tenantId, "webhook.secret_rotated")
        return { config: yield* get(tenantId), secret: Option.some(made) }
      })

    const deliveries = (tenantId: string, listOptions: { readonly limit: number }) =>
      sql`SELECT event_id, event, user_id, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at
        FROM webhook_deliveries WHERE tenant_id = ${tenantId}
        ORDER BY id DESC LIMIT ${Math.max(1, Math.min(MAX_LOG, Math.floor(listOptions.limit)))}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(DeliveryRow))),
        Effect.map((rows) =>
          rows.map((row): Delivery => ({
            id: row.event_id,
            event: row.event,
            userId: Option.fromNullable(row.user_id),
            status: row.status,
            attempts: row.attempts,
            createdAt: row.created_at,
            nextAttemptAt: row.status === "pending" ? Option.some(row.next_attempt_at) : Option.none(),
            deliveredAt: Option.fromNullable(row.delivered_at),
            lastStatus: Option.fromNullable(row.last_status),
            lastError: Option.fromNullable(row.last_error)
          }))
        ),
        Effect.mapError(dbFailed("reading the delivery log"))
      )

    const record = (tenantId: string, type: EventType, userId: string, data: Data, dedupeKey: string | null) =>
      Effect.gen(function*() {
        const eventId = yield* withRandom(randomId("evt_", 24))
        const now = yield* Clock.currentTimeMillis
        // The body, once: every attempt sends these bytes, and the signature covers them.
        const payload = JSON.stringify({
          id: eventId,
          type,
          created_at: new Date(now).toISOString(),
          tenant_id: tenantId,
          data: { user_id: userId, ...data }
        })
        const inserted = yield* sql`INSERT INTO webhook_deliveries (tenant_id, event_id, event, user_id, dedupe_key, payload, status, attempts,
            next_attempt_at, created_at)
          VALUES (${tenantId}, ${eventId}, ${type}, ${userId}, ${dedupeKey}, ${payload}, 'pending', 0, ${now}, ${now})
          ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING event_id`
        return inserted.length > 0
      }).pipe(Effect.mapError(dbFailed("recording a webhook event")))

    const emit: Webhooks.Service["emit"] = (tenantId, type, userId, data) =>
      Effect.flatMap(readHook(tenantId), (hook) => (Option.isNone(hook) ? Effect.void : Effect.asVoid(record(tenantId, type, userId, data, null))))

    const usageObserved: Webhooks.Service["usageObserved"] = (tenantId, userId, previous, current) =>
      Effect.gen(function*() {
        const hook = yield* readHook(tenantId)
        if (Option.isNone(hook) || hook.value.usage_threshold === null) return 0
        const threshold = hook.value.usage_threshold
        let recorded = 0
        for (const window of crossings(previous, current, threshold)) {
          // Replicas that observe the same crossing write one row: same user, window, threshold and period.
          const dedupeKey = window.resetsAt === undefined
            ? null
            : `usage.threshold:${userId}:${window.name}:${threshold}:${Math.floor(window.resetsAt / 60_000)}`
          const data: Data = {
            window: window.name,
            used_percent: window.usedPercent,
            threshold_percent: threshold,
            resets_at: window.resetsAt === undefined ? null : new Date(window.resetsAt).toISOString()
          }
          if (yield* record(tenantId, "usage.threshold", userId, data, dedupeKey)) recorded++
        }
        return recorded
      })

    // --- the deliverer ---------------------------------------------------------------------------

    // Reads at most MAX_ANSWER_BYTES of the answer, then lets go (closing the connection if there was more).
    const drain = (stream: Stream.Stream<Uint8Array, unknown>) => {
      let size = 0
      return Stream.runForEachWhile(stream, (chunk) => Effect.sync(() => (size += chunk.length) <= MAX_ANSWER_BYTES))
    }

    const codeOf = (cause: unknown): string | undefined => {
      for (let c = cause, depth = 0; typeof c === "object" && c !== null && depth < 4; depth++) {
        const code = (c as { code?: unknown }).code
        if (typeof code === "string" && /^[A-Z0-9_]{2,40}$/.test(code)) return code
        c = (c as { cause?: unknown }).cause
      }
      return undefined
    }

    // One attempt: the status, or why there was none. Never the URL or a body in the error.
    const attempt = (url: string, row: DueRow, secret: Redacted.Redacted<string>, timestamp: number): Effect.Effect<Outcome> => {
      const request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders({
          "user-agent": "subauth-broker",
          [EVENT_HEADER]: row.event,
          [DELIVERY_HEADER]: row.event_id,
          [SIGNATURE_HEADER]: sign(secret, timestamp, row.payload)
        }),
        HttpClientRequest.bodyText(row.payload, "application/json")
      )
      return client.execute(request).pipe(
        Effect.flatMap((response) => Effect.as(Effect.ignore(drain(response.stream)), response.status)),
        Effect.map((status): Outcome => ({ status: Option.some(status), error: status >= 200 && status < 300 ? null : `HTTP ${status}` })),
        Effect.catchAll((error) =>
          Effect.succeed<Outcome>({
            status: Option.none(),
            error: codeOf(error.cause) ?? (error._tag === "RequestError" ? "request failed" : "no answer")
          })
        ),
        Effect.timeoutTo({
          duration: Duration.millis(timeoutMillis),
          onTimeout: (): Outcome => ({ status: Option.none(), error: "timeout" }),
          onSuccess: (outcome: Outcome) => outcome
        })
      )
    }

    // Exponential from `base`, capped at `max`, with equal jitter (half fixed, half random).
    const backoff = (attempts: number) => {
      const full = Math.min(retry.max, retry.base * 2 ** Math.min(30, attempts - 1))
      return Math.round(full / 2 + Math.random() * full / 2)
    }

    const settle = (row: DueRow, holder: string, outcome: Outcome) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const attempts = row.attempts + 1
        const lastStatus = Option.getOrNull(outcome.status)
        if (outcome.error === null) {
          yield* sql`UPDATE webhook_deliveries SET status = 'delivered', attempts = ${attempts}, delivered_at = ${now},
              last_status = ${lastStatus}, last_error = NULL, claim_holder = NULL, claim_until = NULL
            WHERE id = ${row.id} AND claim_holder = ${holder}`
          return
        }
        const delay = backoff(attempts)
        const giveUp = attempts >= retry.maxAttempts || now + delay > row.created_at + retry.maxAge
        yield* sql`UPDATE webhook_deliveries SET status = ${giveUp ? "failed" : "pending"}, attempts = ${attempts},
            next_attempt_at = ${giveUp ? now : now + delay}, last_status = ${lastStatus}, last_error = ${outcome.error},
            claim_holder = NULL, claim_until = NULL
          WHERE id = ${row.id} AND claim_holder = ${holder}`
        yield* Effect.logWarning(
          `webhook delivery attempt ${attempts} failed (${outcome.error}); ${giveUp ? "giving up" : `next in ${Math.round(delay / 1000)} s`}`
        )
      }).pipe(Effect.mapError(dbFailed("recording a delivery attempt")))

    const deliverOne = (row: DueRow, holder: string) =>
      Effect.gen(function*() {
        const hook = yield* readHook(row.tenant_id)
        if (Option.isNone(hook)) {
          const now = yield* Clock.currentTimeMillis
          yield* sql`UPDATE webhook_deliveries SET status = 'failed', last_error = ${"no webhook is configured"}, next_attempt_at = ${now},
              claim_holder = NULL, claim_until = NULL
            WHERE id = ${row.id} AND claim_holder = ${holder}`.pipe(Effect.mapError(dbFailed("giving up a delivery")))
          return
        }
        const secret = yield* vault.decrypt(row.tenant_id, "webhooks.secret", SECRET_OWNER, hook.value.secret)
        const timestamp = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        yield* settle(row, holder, yield* attempt(hook.value.url, row, secret, timestamp))
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`a webhook delivery failed: ${error.message}`)),
        Effect.annotateLogs({ tenant_id: row.tenant_id, delivery: row.event_id })
      )

    const cleanup = (now: number) =>
      now - lastCleanup < 60 * 60_000 ? Effect.void : Effect.gen(function*() {
        lastCleanup = now
        yield* sql`DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND created_at < ${now - retentionMillis}`
      }).pipe(Effect.mapError(dbFailed("deleting old deliveries")))

    const deliverDue = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* cleanup(now)
      const holder = `${holderName} ${yield* withRandom(randomId("", 8))}`
      const claimed = yield* sql`UPDATE webhook_deliveries SET claim_holder = ${holder}, claim_until = ${now + claimMillis}
        WHERE id IN (
          SELECT id FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= ${now} AND (claim_until IS NULL OR claim_until <= ${now})
          ORDER BY next_attempt_at LIMIT ${batch}
        ) AND status = 'pending' AND (claim_until IS NULL OR claim_until <= ${now})
        RETURNING id, tenant_id, event_id, event, payload, attempts, created_at`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(DueRow))),
        Effect.mapError(dbFailed("claiming due deliveries"))
      )
      yield* Effect.forEach(claimed, (row) => deliverOne(row, holder), { concurrency, discard: true })
      return claimed.length
    })

    return { configure, get, remove, rotateSecret, deliveries, emit, usageObserved, deliverDue }
  })

/**
 * The service without its deliverer (admin tools; tests drive `deliverDue`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutDelivery = (options: Options = {}): Layer.Layer<Webhooks, never, Requirements> =>
  Layer.effect(Webhooks, make(options))

/**
 * The service, and its deliverer running for the life of the layer: a round
 * every `tick`. A round that fails (the database is away) is logged and the
 * loop goes on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Webhooks, never, Requirements> =>
  Layer.scoped(
    Webhooks,
    Effect.gen(function*() {
      const service = yield* make(options)
      const tick = Duration.decode(options.tick ?? Duration.seconds(1))
      yield* forkLoop({ name: "webhooks", what: "webhook delivery", round: service.deliverDue, pause: Effect.sleep(tick) })
      return service
    })
  )
