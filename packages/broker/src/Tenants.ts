/**
 * Tenants and their API keys. A tenant is one app backend: its users, their
 * sign-ins and its audit trail are its own, and it authenticates with API
 * keys (`sab_…`, random, shown once, stored only as a SHA-256 hash, several per
 * tenant, revocable). Every tenant has its own data key ({@link Vault});
 * deleting a tenant deletes it, and with it the meaning of every ciphertext of
 * its users (crypto-shredding).
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Provider, SecureRandom } from "@subauth/core"
import { Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import { Audit } from "./Audit.js"
import { BrokerError, DatabaseError, type VaultError } from "./BrokerError.js"
import { makeRecent } from "./internal/recent.js"
import { Vault } from "./Vault.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category models
 */
export class Tenant extends Schema.Class<Tenant>("@subauth/broker/Tenant")({
  id: Schema.String,
  name: Schema.String,
  createdAt: Schema.Number
}) {}

/**
 * An API key as listed: never its secret.
 *
 * @since 0.1.0
 * @category models
 */
export class KeyInfo extends Schema.Class<KeyInfo>("@subauth/broker/KeyInfo")({
  id: Schema.String,
  tenantId: Schema.String,
  label: Schema.String,
  createdAt: Schema.Number,
  revokedAt: Schema.OptionFromNullOr(Schema.Number)
}) {}

/**
 * A key just made: the only time its secret exists outside the caller's hands.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedKey {
  readonly id: string
  readonly tenantId: string
  readonly label: string
  readonly secret: Redacted.Redacted<string>
}

/**
 * Who a request comes from: the tenant and the key it used.
 *
 * @since 0.1.0
 * @category models
 */
export interface Caller {
  readonly tenantId: string
  readonly keyId: string
  readonly label: string
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Tenants {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** A tenant with its data key and its first API key. */
    readonly create: (name: string) => Effect.Effect<{ readonly tenant: Tenant; readonly key: IssuedKey }, BrokerError | DatabaseError | VaultError>
    readonly list: Effect.Effect<ReadonlyArray<Tenant>, DatabaseError>
    readonly get: (tenantId: string) => Effect.Effect<Option.Option<Tenant>, DatabaseError>
    /** Deletes the tenant and everything of it, data key first. False when there was none. */
    readonly remove: (tenantId: string) => Effect.Effect<boolean, DatabaseError>
    readonly createKey: (tenantId: string, label: string) => Effect.Effect<IssuedKey, BrokerError | DatabaseError>
    /** Revokes a key; none when there is no such key. Revoking twice is not an error. */
    readonly revokeKey: (keyId: string) => Effect.Effect<Option.Option<KeyInfo>, DatabaseError>
    readonly keys: (tenantId: string) => Effect.Effect<ReadonlyArray<KeyInfo>, DatabaseError>
    /** Allows the connect page to send users back to addresses under `prefix` (an https URL, or http on a loopback host). */
    readonly addReturnUrl: (tenantId: string, prefix: string) => Effect.Effect<string, BrokerError | DatabaseError>
    readonly removeReturnUrl: (tenantId: string, prefix: string) => Effect.Effect<boolean, DatabaseError>
    readonly returnUrls: (tenantId: string) => Effect.Effect<ReadonlyArray<string>, DatabaseError>
    /** The caller a presented secret belongs to, if it is a live key. */
    readonly authenticate: (secret: Redacted.Redacted<string>) => Effect.Effect<Option.Option<Caller>, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Tenants extends Context.Tag("@subauth/broker/Tenants")<Tenants, Tenants.Service>() {}

/**
 * The prefix of every API key, so that scanners and people recognise one.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_PREFIX = "sab_"

const keyPattern = /^sab_[A-Za-z0-9_-]{43}$/

/**
 * How long a live key is trusted without looking it up again: a key revoked
 * elsewhere is refused everywhere at most this much later (at once where it
 * was revoked).
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_CACHE_MILLIS = 1000

const KEY_CACHE_SIZE = 10_000

/**
 * The hash an API key is found by. Keys are 256 random bits: a fast hash is
 * enough, and lets every request be checked by one indexed lookup.
 *
 * @since 0.1.0
 * @category utils
 */
export const hashKey = (secret: Redacted.Redacted<string>): string =>
  createHash("sha256").update(Redacted.value(secret), "utf8").digest("hex")

/**
 * A new key's secret: `prefix` and 256 random bits (43 base64url
 * characters), found later by {@link hashKey}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomSecret = (prefix: string): Effect.Effect<Redacted.Redacted<string>, never, SecureRandom.SecureRandom> =>
  Effect.map(SecureRandom.bytes(32), (bytes) => Redacted.make(`${prefix}${Buffer.from(bytes).toString("base64url")}`))

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

/**
 * A random id with a prefix: `ten_…`, `key_…`, `cs_…`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomId = (prefix: string, length = 20): Effect.Effect<string, never, SecureRandom.SecureRandom> =>
  Effect.map(SecureRandom.bytes(length), (bytes) => `${prefix}${Array.from(bytes, (b) => alphabet[b % 36]).join("")}`)

/**
 * A name or label from outside: trimmed, 1 to 100 characters, no control characters.
 *
 * @since 0.1.0
 * @category validators
 */
export const checkName = (what: string, value: string): Effect.Effect<string, BrokerError> => {
  const trimmed = value.trim()
  // eslint-disable-next-line no-control-regex
  if (trimmed.length === 0 || trimmed.length > 100 || /[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) {
    return Effect.fail(new BrokerError({ code: "invalid_request", description: `${what} must be 1 to 100 characters, without control characters` }))
  }
  return Effect.succeed(trimmed)
}

const TenantRow = Schema.Struct({ id: Schema.String, name: Schema.String, created_at: Int })
const KeyRow = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  label: Schema.String,
  created_at: Int,
  revoked_at: Schema.NullOr(Int)
})

const toTenant = (row: typeof TenantRow.Type) => new Tenant({ id: row.id, name: row.name, createdAt: row.created_at })
const toKey = (row: typeof KeyRow.Type) =>
  new KeyInfo({
    id: row.id,
    tenantId: row.tenant_id,
    label: row.label,
    createdAt: row.created_at,
    revokedAt: Option.fromNullable(row.revoked_at)
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Tenants.Service, never, SqlClient.SqlClient | Vault | Audit | SecureRandom.SecureRandom> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const vault = yield* Vault
    const audit = yield* Audit
    const random = yield* SecureRandom.SecureRandom
    const withRandom = Effect.provideService(SecureRandom.SecureRandom, random)

    const newKey = (tenantId: string, label: string) =>
      Effect.gen(function*() {
        const id = yield* withRandom(randomId("key_", 16))
        const secret = yield* withRandom(randomSecret(KEY_PREFIX))
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO api_keys (id, tenant_id, secret_hash, label, created_at, revoked_at)
          VALUES (${id}, ${tenantId}, ${hashKey(secret)}, ${label}, ${now}, NULL)`
        return { id, tenantId, label, secret } satisfies IssuedKey
      })

    const createKey = (tenantId: string, label: string) =>
      Effect.gen(function*() {
        const checked = yield* checkName("the key's label", label)
        const exists = yield* sql`SELECT id FROM tenants WHERE id = ${tenantId}`.pipe(Effect.mapError(dbFailed("finding the tenant")))
        if (exists.length === 0) return yield* new BrokerError({ code: "not_found", description: `there is no tenant ${JSON.stringify(tenantId)}` })
        const key = yield* newKey(tenantId, checked).pipe(Effect.mapError(dbFailed("creating a key")))
        yield* audit.record(tenantId, "key.created", { detail: { key_id: key.id, label: checked } })
        return key
      })

    const create = (name: string) =>
      Effect.gen(function*() {
        const checked = yield* checkName("the tenant's name", name)
        const id = yield* withRandom(randomId("ten_"))
        const dataKey = yield* vault.newDataKey(id)
        const now = yield* Clock.currentTimeMillis
        const key = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO tenants (id, name, data_key, master_key_id, created_at)
            VALUES (${id}, ${checked}, ${dataKey.wrapped}, ${dataKey.masterKeyId}, ${now})`
          return yield* newKey(id, "first key")
        })).pipe(Effect.mapError(dbFailed("creating a tenant")))
        yield* audit.record(id, "tenant.created", { detail: { name: checked } })
        yield* audit.record(id, "key.created", { detail: { key_id: key.id, label: key.label } })
        return { tenant: new Tenant({ id, name: checked, createdAt: now }), key }
      })

    const list = sql`SELECT id, name, created_at FROM tenants ORDER BY created_at, id`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(TenantRow))),
      Effect.map((rows) => rows.map(toTenant)),
      Effect.mapError(dbFailed("listing tenants"))
    )

    const get = (tenantId: string) =>
      sql`SELECT id, name, created_at FROM tenants WHERE id = ${tenantId}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(TenantRow))),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toTenant)),
        Effect.mapError(dbFailed("reading a tenant"))
      )

    // Rows are deleted child first, so that SQLite without foreign keys (an old file) also ends empty.
    const remove = (tenantId: string) =>
      sql.withTransaction(Effect.gen(function*() {
        const deleted = yield* sql`DELETE FROM tenants WHERE id = ${tenantId} RETURNING id`
        if (deleted.length === 0) return false
        for (
          const table of [
            "api_keys",
            "connections",
            "consents",
            "connect_sessions",
            "leases",
            "audit",
            "return_urls",
            "session_keys",
            "webhooks",
            "webhook_deliveries"
          ]
        ) {
          yield* sql`DELETE FROM ${sql(table)} WHERE tenant_id = ${tenantId}`
        }
        return true
      })).pipe(
        Effect.tap((deleted) =>
          deleted
            ? Effect.zipRight(vault.forget(tenantId), Effect.sync(() => seen.forget((caller) => caller.tenantId === tenantId)))
            : Effect.void
        ),
        Effect.mapError(dbFailed("deleting a tenant"))
      )

    const revokeKey = (keyId: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const revoked = yield* sql`UPDATE api_keys SET revoked_at = ${now} WHERE id = ${keyId} AND revoked_at IS NULL
          RETURNING id, tenant_id, label, created_at, revoked_at`
        yield* forgetKey(keyId)
        if (revoked.length > 0) {
          const key = toKey(yield* Schema.decodeUnknown(KeyRow)(revoked[0]))
          yield* audit.record(key.tenantId, "key.revoked", { detail: { key_id: key.id, label: key.label } })
          return Option.some(key)
        }
        const existing = yield* sql`SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys WHERE id = ${keyId}`
        return existing.length === 0 ? Option.none() : Option.some(toKey(yield* Schema.decodeUnknown(KeyRow)(existing[0])))
      }).pipe(Effect.mapError(dbFailed("revoking a key")))

    const keys = (tenantId: string) =>
      sql`SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys WHERE tenant_id = ${tenantId} ORDER BY created_at, id`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(KeyRow))),
        Effect.map((rows) => rows.map(toKey)),
        Effect.mapError(dbFailed("listing keys"))
      )

    // Live keys seen lately, by hash: most requests need no lookup. A key revoked here leaves the cache at once;
    // one revoked by another process (a replica, the CLI) is refused from the next lookup, at most KEY_CACHE_MILLIS later.
    const seen = makeRecent<Caller>(KEY_CACHE_SIZE)

    const authenticate = (secret: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        if (!keyPattern.test(Redacted.value(secret))) return Option.none<Caller>()
        const hash = hashKey(secret)
        const now = yield* Clock.currentTimeMillis
        const hit = seen.get(hash, now)
        if (hit !== undefined) return Option.some(hit)
        const rows = yield* sql`SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys WHERE secret_hash = ${hash}`
        if (rows.length === 0) return Option.none<Caller>()
        const key = yield* Schema.decodeUnknown(KeyRow)(rows[0])
        if (key.revoked_at !== null) return Option.none<Caller>()
        const caller: Caller = { tenantId: key.tenant_id, keyId: key.id, label: key.label }
        seen.set(hash, caller, now + KEY_CACHE_MILLIS)
        return Option.some(caller)
      }).pipe(Effect.mapError(dbFailed("checking an API key")))

    const forgetKey = (keyId: string) => Effect.sync(() => seen.forget((caller) => caller.keyId === keyId))

    const addReturnUrl = (tenantId: string, prefix: string) =>
      Effect.gen(function*() {
        const invalid = new BrokerError({
          code: "invalid_request",
          description: "a return address is an https URL (or http on a loopback host), without query or fragment"
        })
        if (!URL.canParse(prefix)) return yield* invalid
        const url = new URL(prefix)
        if (
          (url.protocol !== "https:" && !(url.protocol === "http:" && Provider.isLoopback(url.hostname))) || url.search !== "" ||
          url.hash !== "" || url.username !== "" || url.password !== ""
        ) return yield* invalid
        const normalized = url.toString()
        const exists = yield* sql`SELECT id FROM tenants WHERE id = ${tenantId}`.pipe(Effect.mapError(dbFailed("finding the tenant")))
        if (exists.length === 0) return yield* new BrokerError({ code: "not_found", description: `there is no tenant ${JSON.stringify(tenantId)}` })
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO return_urls (tenant_id, prefix, created_at) VALUES (${tenantId}, ${normalized}, ${now})
          ON CONFLICT (tenant_id, prefix) DO NOTHING`.pipe(Effect.mapError(dbFailed("adding a return address")))
        yield* audit.record(tenantId, "return_url.added", { detail: { prefix: normalized } })
        return normalized
      })

    const removeReturnUrl = (tenantId: string, prefix: string) =>
      Effect.gen(function*() {
        const rows = yield* sql<{ prefix: string }>`DELETE FROM return_urls WHERE tenant_id = ${tenantId}
          AND (prefix = ${prefix} OR prefix = ${URL.canParse(prefix) ? new URL(prefix).toString() : prefix})
          RETURNING prefix`.pipe(Effect.mapError(dbFailed("removing a return address")))
        for (const row of rows) yield* audit.record(tenantId, "return_url.removed", { detail: { prefix: row.prefix } })
        return rows.length > 0
      })

    const returnUrls = (tenantId: string) =>
      sql<{ prefix: string }>`SELECT prefix FROM return_urls WHERE tenant_id = ${tenantId} ORDER BY prefix`.pipe(
        Effect.map((rows) => rows.map((row) => row.prefix)),
        Effect.mapError(dbFailed("listing return addresses"))
      )

    return { create, list, get, remove, createKey, revokeKey, keys, addReturnUrl, removeReturnUrl, returnUrls, authenticate }
  }
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Tenants, never, SqlClient.SqlClient | Vault | Audit | SecureRandom.SecureRandom> = Layer.effect(
  Tenants,
  make
)
