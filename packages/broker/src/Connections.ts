/**
 * Users' connections: a user's ChatGPT sign-in, held by the broker for one
 * tenant. The broker refreshes server-side and hands out only access tokens:
 * never the refresh token or the id token.
 *
 * - **Issuing** reads the user's row (one query): while its access token is
 *   fresh enough it is decrypted and returned; otherwise the tenant's
 *   `TokenManager` refreshes, single-flight in this process and under the
 *   user's lease in the database across replicas (`SqlTokenStore`). Every
 *   issue is audited with the caller's label.
 * - **A dead sign-in** (the issuer refused the refresh token for good) is
 *   recorded in the row when it is found, so every replica answers
 *   `reauth_required` from then on without sending that token again.
 * - **Connecting** runs core's `Login.login` over the tokens a connect
 *   session obtained: id token verified against the issuer's JWKS, stored
 *   under the lease, the sign-in it replaces revoked.
 * - **Signing out** revokes at the issuer (by default) and deletes the
 *   tokens; **erasing** a user deletes everything of theirs but the record of
 *   the erasure.
 *
 * Longer than 650 lines: one concern, a connection's life (issue, status,
 * refresh when idle, connect, sign-out, erase, consent records), over one row
 * and one per-tenant token lifecycle.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import {
  AuthError,
  Consent,
  IdTokenVerifier,
  Login,
  Provider,
  SecureRandom,
  type TokenEndpoint,
  TokenManager,
  TokenSet,
  TokenStore
} from "@subauth/core"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema, Scope } from "effect"
import { Audit } from "./Audit.js"
import { BrokerError, DatabaseError, type VaultError } from "./BrokerError.js"
import * as Usage from "./internal/usage.js"
import * as SqlTokenStore from "./SqlTokenStore.js"
import { Vault } from "./Vault.js"
import { Webhooks } from "./Webhooks.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * A user id: the app's own id for its user. The same rule as a profile name:
 * 1 to 64 letters, digits, `_`, `.` or `-`, starting with a letter or digit
 * (a UUID or a number fits; an email address does not).
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserId = TokenStore.Profile

/**
 * @since 0.1.0
 * @category validators
 */
export const checkUserId = (userId: string): Effect.Effect<string, BrokerError> =>
  Schema.is(UserId)(userId)
    ? Effect.succeed(userId)
    : Effect.fail(
      new BrokerError({
        code: "invalid_request",
        description: `"user_id" must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`
      })
    )

/**
 * A consent record: which terms, when, and who attested that the user
 * accepted them (`app:<key id>` when the app says so, `user` when the user
 * did on the connect page).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsentRecord {
  readonly termsVersion: string
  readonly textSha256: string
  readonly acceptedAt: number
  readonly attestedBy: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConnectionStatus {
  readonly userId: string
  readonly status: "connected" | "reauth_required" | "none"
  /** Why the sign-in ended, for `reauth_required`. */
  readonly reauthReason: Option.Option<string>
  readonly accountId: Option.Option<string>
  readonly email: Option.Option<string>
  readonly plan: Option.Option<string>
  readonly accessTokenExpiresAt: Option.Option<number>
  readonly connectedAt: Option.Option<number>
  readonly lastRefreshAt: Option.Option<number>
  readonly lastUsedAt: Option.Option<number>
  readonly claimsVerified: boolean
  readonly consent: Option.Option<ConsentRecord>
  /** The latest usage windows the gateway saw, and when. */
  readonly usage: Option.Option<{ readonly snapshot: Usage.Snapshot; readonly observedAt: number }>
}

/**
 * What an agent runtime needs to build its LLM client: the access token, its
 * expiry, the account, and the backend's base URL with the headers a
 * Responses request carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedToken {
  readonly accessToken: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly accountId: Option.Option<string>
  readonly llm: { readonly baseUrl: string; readonly headers: Readonly<Record<string, string>> }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SignOutResult {
  readonly userId: string
  readonly signedIn: boolean
  readonly revoke: "revoked" | "failed" | "skipped"
}

/**
 * Where agents send their requests, and as whom.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backend {
  /** The Codex backend's base URL, e.g. `https://chatgpt.com/backend-api/codex`. */
  readonly baseUrl: string
  /** The `originator` header. */
  readonly originator: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly backend: Backend
  /** Refresh this long before expiry. Default `TokenManager.DEFAULT_LEEWAY` (5 minutes). */
  readonly leeway?: Duration.DurationInput
  readonly lease?: SqlTokenStore.LeaseOptions
  /** Users per tenant whose tokens a replica keeps in memory. Default `TokenManager.DEFAULT_MAX_PROFILES`. */
  readonly maxUsersInMemory?: number
  readonly request?: TokenEndpoint.RequestOptions
  readonly retry?: TokenEndpoint.RetryOptions
}

/**
 * The longest `min_ttl_seconds` accepted: a day.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_MIN_TTL_SECONDS = 86_400

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Connections {
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
    readonly status: (tenantId: string, userId: string) => Effect.Effect<ConnectionStatus, Error>
    /**
     * An access token valid for at least `minTtlSeconds` (when a refresh can
     * give that). With `rejected`, the caller's token was refused by the
     * backend: another one is returned, from a refresh if need be.
     */
    readonly issue: (
      tenantId: string,
      userId: string,
      options?: {
        readonly minTtlSeconds?: number | undefined
        readonly label?: string | undefined
        readonly rejected?: Redacted.Redacted<string> | undefined
      }
    ) => Effect.Effect<IssuedToken, Error>
    readonly signOut: (tenantId: string, userId: string, options: { readonly revoke: boolean }) => Effect.Effect<SignOutResult, Error>
    /** Signs out (revoking) and deletes every trace of the user but the audit record of the erasure. */
    readonly erase: (tenantId: string, userId: string) => Effect.Effect<SignOutResult, Error>
    /**
     * Refreshes a connected user's sign-in if its tokens were obtained before
     * `before` (epoch ms) and it can be refreshed (`refresh_reason: scheduled`),
     * through the same lifecycle as any refresh: single flight here, the
     * user's lease across replicas, adopting what another replica refreshed
     * since. `renewed`: the tokens are now newer than `before`; `skipped`: no
     * connection, a dead one, none to refresh, or newer already.
     */
    readonly refreshIfIdle: (tenantId: string, userId: string, before: number) => Effect.Effect<"renewed" | "skipped", Error>
    /** Stores the tokens a connect session obtained, as core's `Login.login` does. */
    readonly connect: (
      tenantId: string,
      userId: string,
      obtained: Login.Obtained,
      consent: ConsentRecord
    ) => Effect.Effect<TokenSet.TokenSet, Login.Error | Error>
    /** `textSha256`: of the text the user was shown, when not core's English notice and disclaimer. */
    readonly recordConsent: (tenantId: string, userId: string, attestedBy: string, textSha256?: string) => Effect.Effect<ConsentRecord, Error>
    readonly consentOf: (tenantId: string, userId: string) => Effect.Effect<Option.Option<ConsentRecord>, Error>
    /**
     * The token lifecycle of one user, as a core `TokenManager` (for a
     * `SubscriptionLLM` running in the broker: the gateway). Any other
     * profile is not signed in.
     */
    readonly tokenManagerFor: (tenantId: string, userId: string) => Effect.Effect<TokenManager.TokenManager.Service, Error>
    /** How the broker's users reach the backend. */
    readonly backend: Backend
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Connections extends Context.Tag("@subauth/broker/Connections")<Connections, Connections.Service>() {}

const StatusRow = Schema.Struct({
  status: Schema.Literal("connected", "reauth_required"),
  reauth_reason: Schema.NullOr(Schema.String),
  expires_at: Int,
  account_id: Schema.NullOr(Schema.String),
  email: Schema.NullOr(Schema.String),
  plan_type: Schema.NullOr(Schema.String),
  claims_verified: Int,
  connected_at: Int,
  last_refresh_at: Schema.NullOr(Int),
  last_used_at: Schema.NullOr(Int),
  usage_snapshot: Schema.NullOr(Schema.String),
  usage_at: Schema.NullOr(Int)
})
const ConsentRow = Schema.Struct({
  terms_version: Schema.String,
  text_sha256: Schema.String,
  accepted_at: Int,
  attested_by: Schema.String
})

const notConnected = (userId: string) =>
  new BrokerError({ code: "not_connected", description: `user ${JSON.stringify(userId)} has no ChatGPT connection; start a connect session` })

const reauthText: Record<string, string> = {
  RefreshTokenReused: "the sign-in's refresh token was used twice (a copy of it refreshed elsewhere)",
  RefreshTokenExpired: "the sign-in expired",
  RefreshTokenInvalidated: "the sign-in was revoked (signed out elsewhere, or its password changed)",
  RefreshRejected: "the issuer refused the sign-in",
  NoRefreshToken: "the sign-in has no refresh token",
  RefreshAnswerLost: "the issuer renewed the sign-in but its answer was lost on the way"
}

const reauthRequired = (userId: string, reason: string) =>
  new BrokerError({
    code: "reauth_required",
    reason,
    description: `user ${JSON.stringify(userId)} must connect again: ${reauthText[reason] ?? "the sign-in ended"}`
  })

/**
 * What connections stand on: the database, the vault, the audit trail, randomness, the issuer (with an HTTP
 * client and the id token verifier), and the tenants' webhooks.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements =
  | SqlClient.SqlClient
  | Vault
  | Audit
  | SecureRandom.SecureRandom
  | Provider.Provider
  | HttpClient.HttpClient
  | IdTokenVerifier.IdTokenVerifier
  | Webhooks

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Connections.Service, never, Requirements | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const vault = yield* Vault
    const audit = yield* Audit
    const webhooks = yield* Webhooks
    const context = yield* Effect.context<Requirements>()
    const scope = yield* Effect.scope
    const leewayMillis = Duration.toMillis(Duration.decode(options.leeway ?? TokenManager.DEFAULT_LEEWAY))
    const stores = new Map<string, TokenStore.TokenStore.Service>()
    const managers = new Map<string, TokenManager.TokenManager.Local>()
    const lock = yield* Effect.makeSemaphore(1)

    const storeFor = (tenantId: string) =>
      Effect.suspend(() => {
        const known = stores.get(tenantId)
        if (known !== undefined) return Effect.succeed(known)
        return Effect.tap(
          SqlTokenStore.make({ tenantId, ...(options.lease !== undefined ? { lease: options.lease } : {}) }).pipe(Effect.provide(context)),
          (store) => Effect.sync(() => void stores.set(tenantId, store))
        )
      })

    // What the token lifecycle tells: recorded in the row (a dead sign-in) and in the audit trail.
    const onEvent = (tenantId: string) => (event: TokenManager.Event) =>
      Effect.gen(function*() {
        const userId = event.profile
        if (event._tag === "Refreshed") {
          yield* SqlTokenStore.touchRefreshed(sql, tenantId, userId, yield* Clock.currentTimeMillis)
          yield* audit.record(tenantId, "token.refreshed", { userId, detail: { reason: event.reason } })
          return
        }
        const { error } = event
        if (error._tag === "ReauthRequired") {
          // The webhook's event is written with the status it reports, once: by whoever finds the sign-in dead.
          yield* sql.withTransaction(Effect.gen(function*() {
            const before = yield* SqlTokenStore.readRow(sql, tenantId, userId)
            yield* SqlTokenStore.markReauthRequired(sql, tenantId, userId, error.reason)
            if (Option.isSome(before) && before.value.status === "connected") {
              yield* webhooks.emit(tenantId, "connection.reauth_required", userId, { reason: error.reason })
            }
          }))
          yield* audit.record(tenantId, error.reason === "RefreshTokenReused" ? "token.reuse_detected" : "token.refresh_failed", {
            userId,
            detail: { reason: error.reason, permanent: true }
          })
          return
        }
        yield* audit.record(tenantId, "token.refresh_failed", {
          userId,
          detail: { reason: `${error._tag}.${error.reason}`, permanent: false }
        })
      }).pipe(Effect.orDie)

    const managerFor = (tenantId: string) =>
      Effect.suspend(() => {
        const known = managers.get(tenantId)
        if (known !== undefined) return Effect.succeed(known)
        return lock.withPermits(1)(Effect.suspend(() => {
          const again = managers.get(tenantId)
          if (again !== undefined) return Effect.succeed(again)
          return Effect.gen(function*() {
            const store = yield* storeFor(tenantId)
            const manager = yield* TokenManager.make({
              onEvent: onEvent(tenantId),
              ...(options.leeway !== undefined ? { leeway: options.leeway } : {}),
              ...(options.maxUsersInMemory !== undefined ? { maxProfiles: options.maxUsersInMemory } : {}),
              ...(options.request !== undefined ? { request: options.request } : {}),
              ...(options.retry !== undefined ? { retry: options.retry } : {})
            }).pipe(
              Effect.provideService(TokenStore.TokenStore, store),
              Effect.provideService(Provider.Provider, Context.get(context, Provider.Provider)),
              Effect.provide(context),
              Effect.provideService(Scope.Scope, scope)
            )
            managers.set(tenantId, manager)
            return manager
          })
        }))
      })

    const consentOf = (tenantId: string, userId: string) =>
      sql`SELECT terms_version, text_sha256, accepted_at, attested_by FROM consents WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(ConsentRow))),
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), (row): ConsentRecord => ({
            termsVersion: row.terms_version,
            textSha256: row.text_sha256,
            acceptedAt: row.accepted_at,
            attestedBy: row.attested_by
          }))
        ),
        Effect.mapError(dbFailed("reading a consent record"))
      )

    const recordConsent = (tenantId: string, userId: string, attestedBy: string, textSha256?: string) =>
      Effect.gen(function*() {
        const record: ConsentRecord = {
          termsVersion: Consent.VERSION,
          textSha256: textSha256 ?? (yield* Consent.textSha256),
          acceptedAt: yield* Clock.currentTimeMillis,
          attestedBy
        }
        yield* sql`INSERT INTO consents (tenant_id, user_id, terms_version, text_sha256, accepted_at, attested_by)
          VALUES (${tenantId}, ${userId}, ${record.termsVersion}, ${record.textSha256}, ${record.acceptedAt}, ${attestedBy})
          ON CONFLICT (tenant_id, user_id) DO UPDATE SET terms_version = excluded.terms_version,
            text_sha256 = excluded.text_sha256, accepted_at = excluded.accepted_at, attested_by = excluded.attested_by`.pipe(
          Effect.mapError(dbFailed("recording consent"))
        )
        yield* audit.record(tenantId, "consent.recorded", {
          userId,
          detail: { terms_version: record.termsVersion, attested_by: attestedBy }
        })
        return record
      })

    const status = (tenantId: string, userId: string) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const rows = yield* sql`SELECT status, reauth_reason, expires_at, account_id, email, plan_type, claims_verified,
            connected_at, last_refresh_at, last_used_at, usage_snapshot, usage_at
          FROM connections WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(Effect.mapError(dbFailed("reading a connection")))
        const consent = yield* consentOf(tenantId, userId)
        if (rows.length === 0) {
          return {
            userId,
            status: "none",
            reauthReason: Option.none(),
            accountId: Option.none(),
            email: Option.none(),
            plan: Option.none(),
            accessTokenExpiresAt: Option.none(),
            connectedAt: Option.none(),
            lastRefreshAt: Option.none(),
            lastUsedAt: Option.none(),
            claimsVerified: false,
            consent,
            usage: Option.none()
          } satisfies ConnectionStatus
        }
        const row = yield* Schema.decodeUnknown(StatusRow)(rows[0]).pipe(Effect.mapError(dbFailed("reading a connection")))
        return {
          userId,
          status: row.status,
          reauthReason: Option.fromNullable(row.reauth_reason),
          accountId: Option.fromNullable(row.account_id),
          email: Option.fromNullable(row.email),
          plan: Option.fromNullable(row.plan_type),
          accessTokenExpiresAt: row.status === "connected" ? Option.some(row.expires_at) : Option.none(),
          connectedAt: Option.some(row.connected_at),
          lastRefreshAt: Option.fromNullable(row.last_refresh_at),
          lastUsedAt: Option.fromNullable(row.last_used_at),
          claimsVerified: row.claims_verified === 1,
          consent,
          usage: Option.flatMap(Option.fromNullable(row.usage_at), (observedAt) =>
            Option.map(Usage.parse(row.usage_snapshot), (snapshot) => ({ snapshot, observedAt })))
        } satisfies ConnectionStatus
      })

    // What the lifecycle's errors mean to the app.
    const fromLifecycle = (tenantId: string, userId: string) => (error: TokenManager.TokenManager.Error) =>
      Effect.gen(function*() {
        switch (error._tag) {
          case "ReauthRequired": {
            if (error.reason !== "NotSignedIn") return yield* reauthRequired(userId, error.reason)
            const row = yield* SqlTokenStore.readRow(sql, tenantId, userId).pipe(Effect.mapError(dbFailed("reading a connection")))
            if (Option.isSome(row) && row.value.status === "reauth_required") {
              return yield* reauthRequired(userId, row.value.reauth_reason ?? "RefreshRejected")
            }
            return yield* notConnected(userId)
          }
          case "TokenStoreError":
            return yield* error.reason === "LockFailed"
              ? new BrokerError({
                code: "refresh_busy",
                description: "another broker is refreshing this user's tokens and has not finished; try again shortly",
                retryAfter: 2
              })
              : error.reason === "DecryptFailed"
              ? new BrokerError({ code: "internal_error", description: "the user's stored sign-in could not be decrypted" })
              : new DatabaseError({ reason: "Failed", description: "the user's sign-in could not be read or written", cause: error })
          case "TransportError":
          case "TokenEndpointError":
            return yield* new BrokerError({
              code: "issuer_unavailable",
              description: `the access token is due and could not be refreshed: ${error.message}`,
              retryAfter: 5
            })
        }
      })

    const issue: Connections.Service["issue"] = (tenantId, userId, issueOptions = {}) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const minTtl = issueOptions.minTtlSeconds ?? 0
        if (!Number.isInteger(minTtl) || minTtl < 0 || minTtl > MAX_MIN_TTL_SECONDS) {
          return yield* new BrokerError({
            code: "invalid_request",
            description: `"min_ttl_seconds" must be a whole number from 0 to ${MAX_MIN_TTL_SECONDS}`
          })
        }
        const row = yield* SqlTokenStore.readRow(sql, tenantId, userId).pipe(Effect.mapError(dbFailed("reading a connection")))
        if (Option.isNone(row)) return yield* notConnected(userId)
        if (row.value.status === "reauth_required") return yield* reauthRequired(userId, row.value.reauth_reason ?? "RefreshRejected")
        const now = yield* Clock.currentTimeMillis
        const facts = { expiresAt: row.value.expires_at, obtainedAt: row.value.obtained_at, renewable: row.value.refresh_token !== null }
        const fresh = issueOptions.rejected === undefined && TokenManager.isFreshFor(facts, now, leewayMillis, minTtl * 1000)
        const tokens = fresh
          ? {
            accessToken: yield* vault.decrypt(tenantId, "connections.access_token", userId, row.value.access_token),
            expiresAt: row.value.expires_at,
            accountId: Option.fromNullable(row.value.account_id)
          }
          : yield* Effect.flatMap(managerFor(tenantId), (manager) => {
            const handle = manager.forProfile(userId)
            return issueOptions.rejected !== undefined ? handle.recover(issueOptions.rejected) : handle.getValidFor(Duration.seconds(minTtl))
          }).pipe(
            Effect.map((set) => ({ accessToken: set.accessToken, expiresAt: DateTime.toEpochMillis(set.expiresAt), accountId: set.accountId })),
            Effect.catchAll(fromLifecycle(tenantId, userId))
          )
        // The row read above says when it was last used: most issues need no write for it.
        if (row.value.last_used_at === null || row.value.last_used_at < now - SqlTokenStore.LAST_USE_RESOLUTION_MILLIS) {
          yield* SqlTokenStore.touchUsed(sql, tenantId, userId, now).pipe(Effect.mapError(dbFailed("recording a use")))
        }
        yield* audit.record(tenantId, "token.issued", {
          userId,
          detail: {
            ...(issueOptions.label !== undefined ? { label: issueOptions.label } : {}),
            ...(minTtl > 0 ? { min_ttl_seconds: minTtl } : {}),
            ...(issueOptions.rejected !== undefined ? { recovery: true } : {}),
            refreshed: !fresh
          }
        })
        // The token itself travels beside these, as `Authorization: Bearer <access token>`.
        const headers: Record<string, string> = { originator: options.backend.originator }
        if (Option.isSome(tokens.accountId)) headers["chatgpt-account-id"] = tokens.accountId.value
        return {
          accessToken: tokens.accessToken,
          expiresAt: tokens.expiresAt,
          accountId: tokens.accountId,
          llm: { baseUrl: options.backend.baseUrl, headers }
        } satisfies IssuedToken
      })

    const refreshIfIdle = (tenantId: string, userId: string, before: number) =>
      Effect.gen(function*() {
        // A cheap read first: what another replica refreshed meanwhile costs no lease.
        const row = yield* SqlTokenStore.readRow(sql, tenantId, userId).pipe(Effect.mapError(dbFailed("reading a connection")))
        if (Option.isNone(row) || row.value.status !== "connected" || row.value.refresh_token === null || row.value.obtained_at >= before) {
          return "skipped" as const
        }
        const manager = yield* managerFor(tenantId)
        yield* manager.forProfile(userId).refreshIfObtainedBefore(DateTime.unsafeMake(before)).pipe(
          Effect.catchAll(fromLifecycle(tenantId, userId))
        )
        return "renewed" as const
      })

    // `event`: what the webhook's `connection.revoked` says (none: the caller sends it, as erasure does).
    const signOutAs = (tenantId: string, userId: string, signOutOptions: { readonly revoke: boolean }, event: "signed_out" | null) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const store = yield* storeFor(tenantId)
        const existed = Option.isSome(yield* SqlTokenStore.readRow(sql, tenantId, userId).pipe(Effect.mapError(dbFailed("reading a connection"))))
        const result = yield* Login.logout({ profile: userId, revoke: signOutOptions.revoke }).pipe(
          Effect.provideService(TokenStore.TokenStore, store),
          Effect.provide(context),
          Effect.mapError(dbFailed("deleting a connection"))
        )
        // A dead sign-in reads as no tokens, so logout left its row: it goes too, with the event saying so.
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`DELETE FROM connections WHERE tenant_id = ${tenantId} AND user_id = ${userId}`
          if (existed && event !== null) {
            yield* webhooks.emit(tenantId, "connection.revoked", userId, { reason: event, issuer_revoke: result.revoke })
          }
        })).pipe(Effect.mapError(dbFailed("deleting a connection")))
        if (existed) {
          yield* audit.record(tenantId, "connection.signed_out", { userId, detail: { revoke: result.revoke } })
          if (result.revoke === "revoked") yield* audit.record(tenantId, "connection.revoked", { userId })
          if (result.revoke === "failed") yield* audit.record(tenantId, "connection.revoke_failed", { userId })
        }
        return { userId, signedIn: existed, revoke: result.revoke } satisfies SignOutResult
      })

    const signOut = (tenantId: string, userId: string, signOutOptions: { readonly revoke: boolean }) =>
      signOutAs(tenantId, userId, signOutOptions, "signed_out")

    const erase = (tenantId: string, userId: string) =>
      Effect.gen(function*() {
        const result = yield* signOutAs(tenantId, userId, { revoke: true }, null)
        // The user's undelivered and past events go too; the app hears of the erasure itself.
        yield* sql.withTransaction(Effect.gen(function*() {
          for (const table of ["consents", "connect_sessions", "leases", "session_keys", "webhook_deliveries"]) {
            yield* sql`DELETE FROM ${sql(table)} WHERE tenant_id = ${tenantId} AND user_id = ${userId}`
          }
          if (result.signedIn) yield* webhooks.emit(tenantId, "connection.revoked", userId, { reason: "erased", issuer_revoke: result.revoke })
        })).pipe(Effect.mapError(dbFailed("erasing a user")))
        yield* audit.forget(tenantId, userId)
        yield* audit.record(tenantId, "user.erased", { userId, detail: { revoke: result.revoke } })
        return result
      })

    // A sign-in of another ChatGPT account than the one the user connected before is refused: the user signed in with
    // the wrong account (the app signs the user out first to switch on purpose).
    const checkSameAccount = (tenantId: string, userId: string, response: Login.Obtained["response"]) =>
      Effect.gen(function*() {
        const previous = yield* SqlTokenStore.readRow(sql, tenantId, userId).pipe(Effect.mapError(dbFailed("reading a connection")))
        if (Option.isNone(previous) || previous.value.account_id === null) return
        const verifier = Context.get(context, IdTokenVerifier.IdTokenVerifier)
        const account = yield* verifier.verify({ idToken: response.id_token, accessToken: response.access_token })
        if (Option.isSome(account.accountId) && account.accountId.value !== previous.value.account_id) {
          return yield* new BrokerError({
            code: "different_account",
            description: `the sign-in is of another ChatGPT account than the one ${JSON.stringify(userId)} connected before`
          })
        }
      })

    const connect = (tenantId: string, userId: string, obtained: Login.Obtained, consent: ConsentRecord) =>
      Effect.gen(function*() {
        yield* checkSameAccount(tenantId, userId, obtained.response)
        const store = yield* storeFor(tenantId)
        const record = new Consent.ConsentRecord({
          profile: userId,
          version: consent.termsVersion,
          textSha256: consent.textSha256,
          acceptedAt: DateTime.unsafeMake(consent.acceptedAt),
          how: "flag"
        })
        const result = yield* Login.login({ profile: userId, acceptTerms: true }).pipe(
          Effect.provide(Login.layerFlowObtained(obtained.method, Effect.succeed(obtained))),
          Effect.provideService(Consent.Consent, {
            ensure: () => Effect.succeed(record),
            get: () => Effect.succeed(Option.some(record))
          }),
          Effect.provideService(TokenStore.TokenStore, store),
          Effect.provide(context)
        )
        yield* audit.record(tenantId, "connection.connected", {
          userId,
          detail: {
            method: obtained.method,
            verified: result.tokens.claimsVerified,
            ...(Option.isSome(result.tokens.planType) ? { plan: result.tokens.planType.value } : {})
          }
        })
        if (result.replaced !== "nothing") {
          yield* audit.record(tenantId, "connection.replaced", { userId, detail: { previous: result.replaced } })
        }
        yield* webhooks.emit(tenantId, "connection.connected", userId, {
          account_id: Option.getOrNull(result.tokens.accountId),
          plan: Option.getOrNull(result.tokens.planType),
          method: obtained.method,
          replaced: result.replaced !== "nothing"
        })
        return result.tokens
      })

    const tokenManagerFor = (tenantId: string, userId: string) =>
      Effect.gen(function*() {
        yield* checkUserId(userId)
        const handle = (yield* managerFor(tenantId)).forProfile(userId)
        const nobody = (profile: string): TokenManager.TokenManager.Handle => {
          const refused = new AuthError.ReauthRequired({ reason: "NotSignedIn", profile })
          return { profile, get: refused, getValidFor: () => refused, accessToken: refused, recover: () => refused }
        }
        return { ...handle, forProfile: (profile) => (profile === userId ? handle : nobody(profile)) } satisfies TokenManager.TokenManager.Service
      })

    return { status, issue, refreshIfIdle, signOut, erase, connect, recordConsent, consentOf, tokenManagerFor, backend: options.backend }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Connections, never, Requirements> => Layer.scoped(Connections, make(options))
