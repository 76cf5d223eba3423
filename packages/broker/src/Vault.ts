/**
 * Envelope encryption of every secret the broker stores. Each tenant has a
 * data key (32 random bytes), kept in the `tenants` row wrapped by the master
 * key ({@link KeyWrap}); secrets are AES-256-GCM under the tenant's data key,
 * with additional authenticated data naming the column, the tenant and the
 * owner (user or connect session). A ciphertext copied into another user's
 * row, another tenant or another column does not decrypt: a typed
 * `DecryptFailed`, never another user's token.
 *
 * Deleting a tenant deletes its data key, and with it every ciphertext's
 * meaning (crypto-shredding). Unwrapped data keys are cached in memory for a
 * few minutes, bounded in number.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { SecureRandom } from "@subauth/core"
import { Clock, Context, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { DatabaseError, VaultError } from "./BrokerError.js"
import { aadOf, KEY_BYTES, open, seal } from "./internal/aead.js"
import { KeyWrap, keyIdOf } from "./KeyWrap.js"

/**
 * The columns that hold ciphertexts. Part of each ciphertext's AAD.
 *
 * @since 0.1.0
 * @category models
 */
export type Field =
  | "connections.access_token"
  | "connections.refresh_token"
  | "connections.id_token"
  | "connect_sessions.device_auth_id"
  | "connect_sessions.oauth_state"
  | "connect_sessions.code_verifier"
  | "webhooks.secret"

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Vault {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** A new data key for a tenant, wrapped: what its `tenants` row keeps. */
    readonly newDataKey: (tenantId: string) => Effect.Effect<{ readonly wrapped: string; readonly masterKeyId: string }, VaultError>
    readonly encrypt: (
      tenantId: string,
      field: Field,
      owner: string,
      value: Redacted.Redacted<string>
    ) => Effect.Effect<string, VaultError | DatabaseError>
    readonly decrypt: (
      tenantId: string,
      field: Field,
      owner: string,
      sealed: string
    ) => Effect.Effect<Redacted.Redacted<string>, VaultError | DatabaseError>
    /** Drops a tenant's data key from memory (it was deleted). */
    readonly forget: (tenantId: string) => Effect.Effect<void>
    /**
     * Checks that the configured master keys can unwrap every data key in the
     * database: one unwrap per master key in use. Returns the key ids in use.
     */
    readonly check: Effect.Effect<ReadonlyArray<string>, VaultError | DatabaseError>
    /**
     * Re-wraps every data key not wrapped by the current master key with it,
     * one tenant at a time (each an atomic compare-and-set, so a concurrent
     * rotation or deletion is never overwritten). Returns the tenants re-wrapped.
     */
    readonly rewrap: Effect.Effect<ReadonlyArray<string>, VaultError | DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Vault extends Context.Tag("@subauth/broker/Vault")<Vault, Vault.Service>() {}

/**
 * How long an unwrapped data key stays in memory, and how many are kept.
 *
 * @since 0.1.0
 * @category constants
 */
export const CACHE = { ttlMillis: 5 * 60_000, maxTenants: 4096 } as const

const TenantKeyRow = Schema.Struct({ id: Schema.String, data_key: Schema.String, master_key_id: Schema.String })

const dbError = (what: string) => (cause: unknown) =>
  new DatabaseError({ reason: "Failed", description: `the database failed while ${what}`, cause })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Vault.Service, never, SqlClient.SqlClient | KeyWrap | SecureRandom.SecureRandom> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const wrap = yield* KeyWrap
    const random = yield* SecureRandom.SecureRandom
    const cache = new Map<string, { readonly key: Redacted.Redacted<Uint8Array>; readonly loadedAt: number }>()

    const loadKey = (tenantId: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const hit = cache.get(tenantId)
        if (hit !== undefined && now - hit.loadedAt < CACHE.ttlMillis) return hit.key
        const rows = yield* sql`SELECT id, data_key, master_key_id FROM tenants WHERE id = ${tenantId}`.pipe(
          Effect.mapError(dbError("reading a data key"))
        )
        if (rows.length === 0) {
          cache.delete(tenantId)
          return yield* new VaultError({ reason: "NoDataKey", description: "the tenant has no data key: it was deleted" })
        }
        const row = yield* Schema.decodeUnknown(TenantKeyRow)(rows[0]).pipe(Effect.mapError(dbError("reading a data key")))
        const key = yield* wrap.unwrap(row.data_key, tenantId)
        cache.delete(tenantId)
        cache.set(tenantId, { key, loadedAt: now })
        if (cache.size > CACHE.maxTenants) cache.delete(cache.keys().next().value!)
        return key
      })

    const aad = (tenantId: string, field: Field, owner: string) => aadOf("subauth-broker/v1", field, tenantId, owner)

    const encrypt: Vault.Service["encrypt"] = (tenantId, field, owner, value) =>
      Effect.map(
        loadKey(tenantId),
        (key) => seal(Redacted.value(key), aad(tenantId, field, owner), new TextEncoder().encode(Redacted.value(value)))
      )

    const decrypt: Vault.Service["decrypt"] = (tenantId, field, owner, sealed) =>
      Effect.flatMap(loadKey(tenantId), (key) => {
        const opened = open(Redacted.value(key), aad(tenantId, field, owner), sealed)
        return Either.isRight(opened)
          ? Effect.succeed(Redacted.make(new TextDecoder().decode(opened.right)))
          : Effect.fail(
            new VaultError({
              reason: opened.left === "Malformed" ? "Malformed" : "DecryptFailed",
              description: opened.left === "Malformed"
                ? `the stored ${field} is not a ciphertext`
                : `the stored ${field} does not decrypt: it was altered, or copied from another user, tenant or column`
            })
          )
      })

    const check = Effect.gen(function*() {
      const rows = yield* sql`SELECT master_key_id, MIN(id) AS id FROM tenants GROUP BY master_key_id`.pipe(
        Effect.mapError(dbError("checking the master key"))
      )
      const used: Array<string> = []
      for (const row of rows) {
        const { id, master_key_id } = yield* Schema.decodeUnknown(Schema.Struct({ id: Schema.String, master_key_id: Schema.String }))(row)
          .pipe(Effect.mapError(dbError("checking the master key")))
        used.push(master_key_id)
        cache.delete(id)
        yield* loadKey(id)
      }
      return used
    })

    const rewrap = Effect.gen(function*() {
      const current = yield* wrap.currentKeyId
      const rows = yield* sql`SELECT id, data_key, master_key_id FROM tenants WHERE master_key_id <> ${current} ORDER BY id`.pipe(
        Effect.mapError(dbError("listing data keys"))
      )
      const done: Array<string> = []
      for (const raw of rows) {
        const row = yield* Schema.decodeUnknown(TenantKeyRow)(raw).pipe(Effect.mapError(dbError("listing data keys")))
        const key = yield* wrap.unwrap(row.data_key, row.id)
        const wrapped = yield* wrap.wrap(key, row.id)
        const updated = yield* sql`UPDATE tenants SET data_key = ${wrapped}, master_key_id = ${keyIdOf(wrapped)}
          WHERE id = ${row.id} AND data_key = ${row.data_key} RETURNING id`.pipe(Effect.mapError(dbError("re-wrapping a data key")))
        if (updated.length > 0) done.push(row.id)
      }
      return done
    })

    return {
      newDataKey: (tenantId) =>
        Effect.gen(function*() {
          const key = Redacted.make(yield* random.bytes(KEY_BYTES))
          const wrapped = yield* wrap.wrap(key, tenantId)
          return { wrapped, masterKeyId: keyIdOf(wrapped) }
        }),
      encrypt,
      decrypt,
      forget: (tenantId) => Effect.sync(() => void cache.delete(tenantId)),
      check,
      rewrap
    }
  }
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Vault, never, SqlClient.SqlClient | KeyWrap | SecureRandom.SecureRandom> = Layer.effect(Vault, make)

/**
 * Encrypts an optional secret.
 *
 * @since 0.1.0
 * @category utils
 */
export const encryptOption = (
  vault: Vault.Service,
  tenantId: string,
  field: Field,
  owner: string,
  value: Option.Option<Redacted.Redacted<string>>
): Effect.Effect<string | null, VaultError | DatabaseError> =>
  Option.match(value, {
    onNone: () => Effect.succeed(null),
    onSome: (v) => vault.encrypt(tenantId, field, owner, v)
  })
