/**
 * Session keys: what an agent runtime gets instead of any OpenAI token. An
 * app makes one for a connected user (`label`, at most a day), hands it to
 * the agent session, and the agent calls the broker's OpenAI-compatible
 * gateway with it; the broker runs each request with that user's sign-in.
 *
 * - The key (`sas_` and 256 random bits) is shown once and stored as its
 *   SHA-256; lists never show it.
 * - It expires by itself, and can be revoked; a revoked key is refused at
 *   once by the replica that revoked it and within {@link CACHE_MILLIS} by
 *   the others (they trust a live key that long without a lookup).
 * - Its use is counted in memory and written every {@link Options.flushEvery}
 *   (and when the broker stops): one `session_key.used` audit row with the
 *   count, not a row a request.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { SecureRandom } from "@subauth/core"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema, type Scope } from "effect"
import { Audit } from "./Audit.js"
import { BrokerError, DatabaseError } from "./BrokerError.js"
import { checkUserId } from "./Connections.js"
import { makeRecent } from "./internal/recent.js"
import { checkName, hashKey, randomId, randomSecret } from "./Tenants.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const KEY_PREFIX = "sas_"

/**
 * The longest a session key lives: a day.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_TTL_SECONDS = 86_400

/**
 * The shortest: a minute.
 *
 * @since 0.1.0
 * @category constants
 */
export const MIN_TTL_SECONDS = 60

/**
 * Live keys a user may have at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LIVE_PER_USER = 100

/**
 * How long a live key is trusted without looking it up again.
 *
 * @since 0.1.0
 * @category constants
 */
export const CACHE_MILLIS = 1000

const keyPattern = /^sas_[A-Za-z0-9_-]{43}$/


/**
 * A session key as lists show it: never the key.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionKey {
  readonly id: string
  readonly tenantId: string
  readonly userId: string
  readonly label: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly revokedAt: Option.Option<number>
  /** Requests made with it (written every flush). */
  readonly uses: number
  readonly lastUsedAt: Option.Option<number>
}

/**
 * Who a request with a session key acts for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Holder {
  readonly keyId: string
  readonly tenantId: string
  readonly userId: string
  readonly label: string
  readonly expiresAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How often use counts are written (and audited). Default a minute. */
  readonly flushEvery?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace SessionKeys {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly create: (
      tenantId: string,
      userId: string,
      options: { readonly label: string; readonly ttlSeconds: number }
    ) => Effect.Effect<{ readonly key: SessionKey; readonly secret: Redacted.Redacted<string> }, BrokerError | DatabaseError>
    readonly list: (tenantId: string, userId: string) => Effect.Effect<ReadonlyArray<SessionKey>, BrokerError | DatabaseError>
    /** The key, revoked; none if the tenant has no such key. */
    readonly revoke: (tenantId: string, id: string) => Effect.Effect<Option.Option<SessionKey>, DatabaseError>
    /** Who a live key acts for (none: unknown, revoked or expired), counting the use. */
    readonly authenticate: (secret: Redacted.Redacted<string>) => Effect.Effect<Option.Option<Holder>, DatabaseError>
    /** Writes the counted uses now (the broker also does it every `flushEvery` and when it stops). */
    readonly flush: Effect.Effect<void, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SessionKeys extends Context.Tag("@subauth/broker/SessionKeys")<SessionKeys, SessionKeys.Service>() {}

const Row = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  user_id: Schema.String,
  label: Schema.String,
  created_at: Int,
  expires_at: Int,
  revoked_at: Schema.NullOr(Int),
  uses: Int,
  last_used_at: Schema.NullOr(Int)
})
const COLUMNS = "id, tenant_id, user_id, label, created_at, expires_at, revoked_at, uses, last_used_at"

const toKey = (row: typeof Row.Type): SessionKey => ({
  id: row.id,
  tenantId: row.tenant_id,
  userId: row.user_id,
  label: row.label,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: Option.fromNullable(row.revoked_at),
  uses: row.uses,
  lastUsedAt: Option.fromNullable(row.last_used_at)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SessionKeys.Service, never, SqlClient.SqlClient | Audit | SecureRandom.SecureRandom | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const audit = yield* Audit
    const random = yield* SecureRandom.SecureRandom
    const seen = makeRecent<Holder>(10_000)
    // Uses not yet written: key id → count and last use.
    let pending = new Map<string, { readonly holder: Holder; count: number; last: number }>()

    const decodeRows = (rows: ReadonlyArray<unknown>) => Effect.map(Schema.decodeUnknown(Schema.Array(Row))(rows), (all) => all.map(toKey))

    const create: SessionKeys.Service["create"] = (tenantId, userId, createOptions) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const label = yield* checkName("\"label\"", createOptions.label)
        const ttl = createOptions.ttlSeconds
        if (!Number.isInteger(ttl) || ttl < MIN_TTL_SECONDS || ttl > MAX_TTL_SECONDS) {
          return yield* new BrokerError({
            code: "invalid_request",
            description: `"ttl_seconds" must be a whole number from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS} (a day)`
          })
        }
        const now = yield* Clock.currentTimeMillis
        const live = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM session_keys
          WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL AND expires_at > ${now}`.pipe(
          Effect.mapError(dbFailed("counting session keys"))
        )
        if (Number(live[0]?.n ?? 0) >= MAX_LIVE_PER_USER) {
          return yield* new BrokerError({
            code: "too_many_sessions",
            description: `user ${JSON.stringify(userId)} has ${MAX_LIVE_PER_USER} live session keys; revoke some or let them expire`,
            retryAfter: 60
          })
        }
        const [id, secret] = yield* Effect.all([randomId("sk_", 20), randomSecret(KEY_PREFIX)]).pipe(
          Effect.provideService(SecureRandom.SecureRandom, random)
        )
        const expiresAt = now + ttl * 1000
        yield* sql`INSERT INTO session_keys (id, tenant_id, user_id, label, secret_hash, created_at, expires_at, revoked_at, uses, last_used_at)
          VALUES (${id}, ${tenantId}, ${userId}, ${label}, ${hashKey(secret)}, ${now}, ${expiresAt}, NULL, 0, NULL)`.pipe(
          Effect.mapError(dbFailed("creating a session key"))
        )
        yield* audit.record(tenantId, "session_key.created", { userId, detail: { key_id: id, label, ttl_seconds: ttl } })
        const key: SessionKey = {
          id,
          tenantId,
          userId,
          label,
          createdAt: now,
          expiresAt,
          revokedAt: Option.none(),
          uses: 0,
          lastUsedAt: Option.none()
        }
        return { key, secret }
      })

    const list = (tenantId: string, userId: string) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const rows = yield* sql`SELECT ${sql.literal(COLUMNS)} FROM session_keys WHERE tenant_id = ${tenantId} AND user_id = ${userId}
          ORDER BY created_at DESC, id`.pipe(Effect.mapError(dbFailed("listing session keys")))
        const keys = yield* decodeRows(rows).pipe(Effect.mapError(dbFailed("listing session keys")))
        // Uses counted here and not yet written show too.
        return keys.map((key) => {
          const counted = pending.get(key.id)
          return counted === undefined ? key : { ...key, uses: key.uses + counted.count, lastUsedAt: Option.some(counted.last) }
        })
      })

    const revoke = (tenantId: string, id: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const revoked = yield* sql`UPDATE session_keys SET revoked_at = ${now}
          WHERE tenant_id = ${tenantId} AND id = ${id} AND revoked_at IS NULL RETURNING id`
        seen.forget((holder) => holder.keyId === id)
        const rows = yield* sql`SELECT ${sql.literal(COLUMNS)} FROM session_keys WHERE tenant_id = ${tenantId} AND id = ${id}`
        const key = (yield* decodeRows(rows))[0]
        if (key === undefined) return Option.none<SessionKey>()
        if (revoked.length > 0) {
          yield* audit.record(tenantId, "session_key.revoked", { userId: key.userId, detail: { key_id: id, label: key.label } })
        }
        return Option.some(key)
      }).pipe(Effect.mapError(dbFailed("revoking a session key")))

    const count = (holder: Holder, now: number) =>
      Effect.sync(() => {
        const counted = pending.get(holder.keyId)
        if (counted === undefined) pending.set(holder.keyId, { holder, count: 1, last: now })
        else {
          counted.count += 1
          counted.last = now
        }
      })

    const authenticate = (secret: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        if (!keyPattern.test(Redacted.value(secret))) return Option.none<Holder>()
        const hash = hashKey(secret)
        const now = yield* Clock.currentTimeMillis
        let holder = seen.get(hash, now)
        if (holder === undefined) {
          const rows = yield* sql`SELECT ${sql.literal(COLUMNS)} FROM session_keys WHERE secret_hash = ${hash}`
          const key = (yield* decodeRows(rows))[0]
          if (key === undefined || Option.isSome(key.revokedAt)) return Option.none<Holder>()
          holder = { keyId: key.id, tenantId: key.tenantId, userId: key.userId, label: key.label, expiresAt: key.expiresAt }
          seen.set(hash, holder, Math.min(now + CACHE_MILLIS, key.expiresAt))
        }
        if (now >= holder.expiresAt) return Option.none<Holder>()
        yield* count(holder, now)
        return Option.some(holder)
      }).pipe(Effect.mapError(dbFailed("checking a session key")))

    const flush = Effect.gen(function*() {
      const batch = pending
      if (batch.size === 0) return
      pending = new Map()
      for (const { count: n, holder, last } of batch.values()) {
        yield* sql`UPDATE session_keys SET uses = uses + ${n},
            last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ${last} THEN ${last} ELSE last_used_at END
          WHERE id = ${holder.keyId}`
        yield* audit.record(holder.tenantId, "session_key.used", { userId: holder.userId, detail: { key_id: holder.keyId, count: n } })
      }
    }).pipe(Effect.mapError(dbFailed("writing session key use")))

    const every = Duration.decode(options.flushEvery ?? Duration.minutes(1))
    yield* flush.pipe(
      Effect.catchAll((error) => Effect.logWarning(`session key use was not written: ${error.message}`)),
      Effect.repeat(Schedule.spaced(every)),
      Effect.delay(every),
      Effect.interruptible,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Effect.ignore(flush))
    return { create, list, revoke, authenticate, flush } satisfies SessionKeys.Service
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SessionKeys, never, SqlClient.SqlClient | Audit | SecureRandom.SecureRandom> =>
  Layer.scoped(SessionKeys, make(options))
