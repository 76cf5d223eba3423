/**
 * A `TokenStore` on SQL, for one tenant: a profile is a user id, and every
 * query names the tenant. The token lifecycle (`TokenManager`) runs on it
 * unchanged; what makes it safe for several broker replicas is `withLock`:
 *
 * - **A lease in the database**, not an in-process mutex: a row in `leases`
 *   per user, taken with one atomic upsert that succeeds only when no lease is
 *   held or the one held has run out. Each `withLock` call is its own holder,
 *   so fibers of one process exclude each other the same way replicas do.
 * - **Renewed while held.** The holder extends its lease every third of its
 *   duration, so a refresh slower than anyone's patience keeps it: waiters give
 *   up (`LockFailed`) rather than take over from a live holder. Only a holder
 *   that stops renewing (killed, frozen, cut off from the database) loses it,
 *   once the lease runs out. A holder that finds its lease gone, or cannot
 *   renew it before it runs out, is interrupted: it must not go on to send a
 *   refresh token that another holder may be sending.
 * - **Writes name their columns.** `set` writes the token columns (and the
 *   account fields derived from them) in one upsert; anything else written
 *   about a connection (last use, last refresh) is a single-column update that
 *   never rewrites tokens, so no rotated refresh token is lost to a
 *   read-modify-write.
 *
 * Token columns hold AES-256-GCM ciphertexts bound to tenant, user and column
 * ({@link Vault}). A connection whose sign-in is known dead (`reauth_required`)
 * reads as no tokens.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { SecureRandom, TokenSet, TokenStore } from "@subauth/core"
import { Clock, DateTime, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schema } from "effect"
import type { DatabaseError, VaultError } from "./BrokerError.js"
import { encryptOption, Vault } from "./Vault.js"
import { Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface LeaseOptions {
  /** How long a lease lasts unless renewed; renewed every third of it. Default 15 seconds. */
  readonly duration?: Duration.DurationInput
  /** How long `withLock` waits for a lease held by someone else. Default 30 seconds. */
  readonly wait?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LEASE: Required<{ readonly [K in keyof LeaseOptions]: Duration.Duration }> = {
  duration: Duration.seconds(15),
  wait: Duration.seconds(30)
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly tenantId: string
  readonly lease?: LeaseOptions
  /** A name for this process in lease rows (diagnostics only). Default `pid <n>`. */
  readonly holderName?: string
}

const Nullable = <A, I>(schema: Schema.Schema<A, I>) => Schema.NullOr(schema)

/**
 * A `connections` row as the store reads it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectionRow = Schema.Struct({
  status: Schema.Literal("connected", "reauth_required"),
  reauth_reason: Nullable(Schema.String),
  access_token: Schema.String,
  refresh_token: Nullable(Schema.String),
  id_token: Nullable(Schema.String),
  expires_at: Int,
  obtained_at: Int,
  account_id: Nullable(Schema.String),
  plan_type: Nullable(Schema.String),
  email: Nullable(Schema.String),
  chatgpt_user_id: Nullable(Schema.String),
  claims_verified: Int,
  token_version: Int,
  last_used_at: Nullable(Int)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ConnectionRow = typeof ConnectionRow.Type

const storeError = (profile: string, reason: TokenStore.TokenStoreError["reason"], description: string, cause?: unknown) =>
  new TokenStore.TokenStoreError({
    reason,
    profile,
    location: "broker database",
    description,
    ...(cause !== undefined ? { cause } : {})
  })

const fromVault = (profile: string) => (error: VaultError | DatabaseError) =>
  storeError(profile, error._tag === "VaultError" ? "DecryptFailed" : "ReadFailed", error.message, error)

/**
 * Decrypts a connection row into the tokens it holds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokensOf = (
  vault: Vault.Service,
  tenantId: string,
  userId: string,
  row: ConnectionRow
): Effect.Effect<TokenSet.TokenSet, VaultError | DatabaseError> =>
  Effect.gen(function*() {
    const optional = (field: "connections.refresh_token" | "connections.id_token", value: string | null) =>
      value === null ? Effect.succeed(Option.none()) : Effect.map(vault.decrypt(tenantId, field, userId, value), Option.some)
    return new TokenSet.TokenSet({
      accessToken: yield* vault.decrypt(tenantId, "connections.access_token", userId, row.access_token),
      refreshToken: yield* optional("connections.refresh_token", row.refresh_token),
      idToken: yield* optional("connections.id_token", row.id_token),
      expiresAt: DateTime.unsafeMake(row.expires_at),
      obtainedAt: DateTime.unsafeMake(row.obtained_at),
      accountId: Option.fromNullable(row.account_id),
      planType: Option.fromNullable(row.plan_type),
      email: Option.fromNullable(row.email),
      userId: Option.fromNullable(row.chatgpt_user_id),
      claimsVerified: row.claims_verified === 1
    })
  })

/**
 * Reads a user's connection row, whatever its status.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readRow = (sql: SqlClient.SqlClient, tenantId: string, userId: string) =>
  Effect.flatMap(
    sql`SELECT status, reauth_reason, access_token, refresh_token, id_token, expires_at, obtained_at, account_id, plan_type,
      email, chatgpt_user_id, claims_verified, token_version, last_used_at
      FROM connections WHERE tenant_id = ${tenantId} AND user_id = ${userId}`,
    (rows) =>
      rows.length === 0
        ? Effect.succeed(Option.none<ConnectionRow>())
        : Effect.map(Schema.decodeUnknown(ConnectionRow)(rows[0]), Option.some)
  )

/**
 * Builds the store of one tenant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<TokenStore.TokenStore.Service, never, SqlClient.SqlClient | Vault | SecureRandom.SecureRandom> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const vault = yield* Vault
    const random = yield* SecureRandom.SecureRandom
    const { tenantId } = options
    const leaseMillis = Duration.toMillis(Duration.decode(options.lease?.duration ?? DEFAULT_LEASE.duration))
    const waitMillis = Duration.toMillis(Duration.decode(options.lease?.wait ?? DEFAULT_LEASE.wait))
    const holderName = options.holderName ?? `pid ${process.pid}`

    const get = (profile: TokenStore.Profile) =>
      readRow(sql, tenantId, profile).pipe(
        Effect.mapError((cause) => storeError(profile, "ReadFailed", "the connection could not be read", cause)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(Option.none<TokenSet.TokenSet>()),
          onSome: (row) =>
            row.status === "connected"
              ? Effect.map(tokensOf(vault, tenantId, profile, row).pipe(Effect.mapError(fromVault(profile))), Option.some)
              : Effect.succeed(Option.none<TokenSet.TokenSet>())
        }))
      )

    const set = (profile: TokenStore.Profile, tokens: TokenSet.TokenSet) =>
      Effect.gen(function*() {
        const access = yield* vault.encrypt(tenantId, "connections.access_token", profile, tokens.accessToken)
        const refresh = yield* encryptOption(vault, tenantId, "connections.refresh_token", profile, tokens.refreshToken)
        const id = yield* encryptOption(vault, tenantId, "connections.id_token", profile, tokens.idToken)
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO connections (tenant_id, user_id, status, reauth_reason, access_token, refresh_token, id_token,
            expires_at, obtained_at, account_id, plan_type, email, chatgpt_user_id, claims_verified, token_version, connected_at)
          VALUES (${tenantId}, ${profile}, 'connected', NULL, ${access}, ${refresh}, ${id},
            ${DateTime.toEpochMillis(tokens.expiresAt)}, ${DateTime.toEpochMillis(tokens.obtainedAt)},
            ${Option.getOrNull(tokens.accountId)}, ${Option.getOrNull(tokens.planType)}, ${Option.getOrNull(tokens.email)},
            ${Option.getOrNull(tokens.userId)}, ${tokens.claimsVerified ? 1 : 0}, 1, ${now})
          ON CONFLICT (tenant_id, user_id) DO UPDATE SET
            status = 'connected', reauth_reason = NULL, access_token = excluded.access_token,
            refresh_token = excluded.refresh_token, id_token = excluded.id_token, expires_at = excluded.expires_at,
            obtained_at = excluded.obtained_at, account_id = excluded.account_id, plan_type = excluded.plan_type,
            email = excluded.email, chatgpt_user_id = excluded.chatgpt_user_id, claims_verified = excluded.claims_verified,
            token_version = connections.token_version + 1`.pipe(
          Effect.mapError((cause) => storeError(profile, "WriteFailed", "the connection could not be written", cause))
        )
      }).pipe(Effect.catchTags({
        VaultError: (error) => Effect.fail(storeError(profile, "WriteFailed", error.message, error)),
        DatabaseError: (error) => Effect.fail(storeError(profile, "WriteFailed", error.message, error))
      }))

    const remove = (profile: TokenStore.Profile) =>
      sql`DELETE FROM connections WHERE tenant_id = ${tenantId} AND user_id = ${profile}`.pipe(
        Effect.asVoid,
        Effect.mapError((cause) => storeError(profile, "WriteFailed", "the connection could not be deleted", cause))
      )

    // --- the lease -------------------------------------------------------------------------------

    const tryAcquire = (profile: string, holder: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`INSERT INTO leases (tenant_id, user_id, holder, expires_at) VALUES (${tenantId}, ${profile}, ${holder}, ${now + leaseMillis})
          ON CONFLICT (tenant_id, user_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
          WHERE leases.expires_at <= ${now}
          RETURNING holder`.pipe(Effect.map((rows) => ({ acquired: rows.length > 0, until: now + leaseMillis }))))

    const renew = (profile: string, holder: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`UPDATE leases SET expires_at = ${now + leaseMillis}
          WHERE tenant_id = ${tenantId} AND user_id = ${profile} AND holder = ${holder} RETURNING holder`.pipe(
          Effect.map((rows) => (rows.length > 0 ? Option.some(now + leaseMillis) : Option.none()))
        ))

    const release = (profile: string, holder: string) =>
      sql`DELETE FROM leases WHERE tenant_id = ${tenantId} AND user_id = ${profile} AND holder = ${holder}`.pipe(
        Effect.asVoid,
        Effect.catchAll((error) => Effect.logWarning("a refresh lease could not be released; it runs out by itself", error))
      )

    const acquire = (profile: string, holder: string) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        let delay = 10
        for (;;) {
          const attempt = yield* tryAcquire(profile, holder).pipe(
            Effect.mapError((cause) => storeError(profile, "LockFailed", "the refresh lease could not be taken", cause))
          )
          if (attempt.acquired) return attempt.until
          const waited = (yield* Clock.currentTimeMillis) - started
          if (waited >= waitMillis) {
            return yield* storeError(
              profile,
              "LockFailed",
              `another broker process held this user's refresh lease for ${Math.round(waited / 1000)} s and is still renewing it; try again shortly`
            )
          }
          yield* Effect.sleep(Duration.millis(Math.min(delay, waitMillis - waited) * (0.5 + Math.random() / 2)))
          delay = Math.min(delay * 2, 250)
        }
      })

    // Renews every third of the lease; signals `lost` when the lease is gone or about to run out unrenewed.
    const keepAlive = (profile: string, holder: string, firstUntil: number, lost: Deferred.Deferred<string>) =>
      Effect.gen(function*() {
        let until = firstUntil
        const every = Math.max(1, Math.floor(leaseMillis / 3))
        for (;;) {
          yield* Effect.sleep(Duration.millis(every))
          const renewed = yield* Effect.either(renew(profile, holder))
          const now = yield* Clock.currentTimeMillis
          if (renewed._tag === "Right") {
            if (Option.isNone(renewed.right)) return yield* Deferred.succeed(lost, "the lease was taken over")
            until = renewed.right.value
          } else if (now >= until - every) {
            return yield* Deferred.succeed(lost, "the lease could not be renewed before running out")
          }
        }
      })

    const withLock = <A, E, R>(profile: TokenStore.Profile, effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const holder = `${holderName} ${Buffer.from(yield* random.bytes(9)).toString("base64url")}`
        return yield* Effect.acquireUseRelease(
          acquire(profile, holder),
          (until) =>
            Effect.gen(function*() {
              const lost = yield* Deferred.make<string>()
              // The renewer and the watch for a lost lease are interruptible even when the caller is not (an HTTP
              // handler, a refresh's critical section): the holder stops them when its work ends.
              const renewer = yield* Effect.fork(Effect.interruptible(keepAlive(profile, holder, until, lost)))
              const outcome = yield* Effect.raceFirst(
                Effect.exit(effect),
                Effect.interruptible(Effect.map(Deferred.await(lost), (why) =>
                  Exit.fail(storeError(profile, "LockFailed", `the refresh lease was lost while held (${why})`))))
              )
              yield* Fiber.interrupt(renewer)
              return yield* outcome
            }),
          () => release(profile, holder)
        )
      })

    return TokenStore.make({ get, set, remove, withLock })
  })

/**
 * The store of one tenant as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TokenStore.TokenStore, never, SqlClient.SqlClient | Vault | SecureRandom.SecureRandom> =>
  Layer.effect(TokenStore.TokenStore, make(options))

/**
 * Records that a user's sign-in is dead (the issuer refused its refresh token
 * for good): the connection then reads as no tokens, for every replica, and
 * nobody sends that refresh token again. Only the status columns are written.
 *
 * @since 0.1.0
 * @category constructors
 */
export const markReauthRequired = (sql: SqlClient.SqlClient, tenantId: string, userId: string, reason: string) =>
  sql`UPDATE connections SET status = 'reauth_required', reauth_reason = ${reason}
    WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(Effect.asVoid)

/**
 * Records the time of a user's last refresh (a single-column update).
 *
 * @since 0.1.0
 * @category constructors
 */
export const touchRefreshed = (sql: SqlClient.SqlClient, tenantId: string, userId: string, at: number) =>
  sql`UPDATE connections SET last_refresh_at = ${at} WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(Effect.asVoid)

/**
 * How often the last use of a connection is written at most.
 *
 * @since 0.1.0
 * @category constants
 */
export const LAST_USE_RESOLUTION_MILLIS = 60_000

/**
 * Records a use, at most once a minute per user (a single-column update).
 *
 * @since 0.1.0
 * @category constructors
 */
export const touchUsed = (sql: SqlClient.SqlClient, tenantId: string, userId: string, at: number) =>
  sql`UPDATE connections SET last_used_at = ${at}
    WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND (last_used_at IS NULL OR last_used_at < ${at - LAST_USE_RESOLUTION_MILLIS})`.pipe(
    Effect.asVoid
  )
