/**
 * Envelope encryption: master keys from env or a 0600 file, data keys bound
 * to their tenant, the start-up check that refuses a wrong key, re-wrapping,
 * and a server that learns a rotated key from its key file by itself.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { SecureRandom } from "@subauth/core"
import { Effect, Either, Layer, Redacted } from "effect"
import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as KeyWrap from "../src/KeyWrap.js"
import * as MasterKey from "../src/MasterKey.js"
import * as Tenants from "../src/Tenants.js"
import * as Vault from "../src/Vault.js"
import * as Audit from "../src/Audit.js"
import { database, masterKeys, tempDir } from "./support.js"

const secret = Redacted.make("rt_FAKE_vault_test_secret_value")

/** A vault over `keyWrap`, on the database in context. */
const vaultWith = (keyWrap: Layer.Layer<KeyWrap.KeyWrap, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Vault.make.pipe(
      Effect.provide(Layer.mergeAll(keyWrap.pipe(Layer.orDie), SecureRandom.layer)),
      Effect.provideService(SqlClient.SqlClient, sql)
    ))

const tenantWith = (vault: Vault.Vault.Service) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.flatMap(Tenants.make, (tenants) => tenants.create("app")).pipe(
      Effect.map(({ tenant }) => tenant.id),
      Effect.provideService(Vault.Vault, vault),
      Effect.provide(Audit.layer),
      Effect.provide(SecureRandom.layer),
      Effect.provideService(SqlClient.SqlClient, sql)
    ))

describe("MasterKey", () => {
  it("parses one key or several (current first), and never echoes a value in an error", () => {
    const keys = masterKeys(2)
    const text = Redacted.value(MasterKey.format(keys))
    const parsed = Either.getOrThrow(MasterKey.parse(Redacted.make(text.replace("\n", ",")), "test"))
    assert.strictEqual(MasterKey.idOf(parsed.current), MasterKey.idOf(keys.current))
    assert.strictEqual(MasterKey.idOf(parsed.previous[0]!), MasterKey.idOf(keys.previous[0]!))
    for (const bad of ["", "not base64 !!", Buffer.alloc(16).toString("base64"), "c2VjcmV0LXRva2VuLXZhbHVlLXRoYXQtaXMtdG9vLWxvbmctZm9yLWEta2V5"]) {
      const error = Either.getLeft(MasterKey.parse(Redacted.make(bad), "SUBAUTH_BROKER_MASTER_KEY"))
      assert.isTrue(error._tag === "Some")
      if (bad.length > 0) assert.notInclude(error._tag === "Some" ? error.value.message : "", bad)
    }
  })

  it.live("a key file others can read is refused, with the chmod to run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "master.key")
      writeFileSync(path, Redacted.value(MasterKey.format(masterKeys())), { mode: 0o644 })
      chmodSync(path, 0o644)
      const error = yield* Effect.flip(MasterKey.readFile(path))
      assert.strictEqual(error.reason, "InvalidMasterKey")
      assert.include(error.message, `chmod 600 ${path}`)
    }).pipe(Effect.scoped))

  it.live("two processes creating the key file at once end with the same key", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "sub", "master.key")
      const [a, b] = yield* Effect.all([MasterKey.createFile(path, masterKeys()), MasterKey.createFile(path, masterKeys())], {
        concurrency: 2
      })
      assert.strictEqual(MasterKey.idOf(a.keys.current), MasterKey.idOf(b.keys.current))
      assert.strictEqual([a.created, b.created].filter(Boolean).length, 1)
    }).pipe(Effect.scoped))
})

describe("Vault", () => {
  it.live("check refuses master keys that do not unwrap the database's data keys, naming the key ids", () =>
    Effect.gen(function*() {
      const keyA = masterKeys()
      const vaultA = yield* vaultWith(KeyWrap.layerLocal(keyA))
      yield* tenantWith(vaultA)
      const other = masterKeys()
      const wrong = yield* vaultWith(KeyWrap.layerLocal(other))
      const error = yield* Effect.flip(wrong.check)
      assert.strictEqual(error._tag === "VaultError" ? error.reason : error._tag, "UnknownMasterKey")
      assert.include(error.message, MasterKey.idOf(keyA.current))
      // The right key among others: fine.
      const both = yield* vaultWith(KeyWrap.layerLocal({ current: other.current, previous: [keyA.current] }))
      assert.deepStrictEqual(yield* both.check, [MasterKey.idOf(keyA.current)])
    }).pipe(Effect.provide(database("sqlite")), Effect.scoped))

  it.live("a data key copied to another tenant does not unwrap there", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* vaultWith(KeyWrap.layerLocal(masterKeys()))
      const a = yield* tenantWith(vault)
      const b = yield* tenantWith(vault)
      yield* sql`UPDATE tenants SET data_key = (SELECT data_key FROM tenants WHERE id = ${a}) WHERE id = ${b}`
      yield* vault.forget(b)
      const error = yield* Effect.flip(vault.encrypt(b, "connections.access_token", "u", secret))
      assert.strictEqual(error._tag === "VaultError" ? error.reason : error._tag, "WrongMasterKey")
    }).pipe(Effect.provide(database("sqlite")), Effect.scoped))

  it.live("rewrap moves every data key to the current master key; ciphertexts still decrypt", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const old = masterKeys()
      const vault = yield* vaultWith(KeyWrap.layerLocal(old))
      const tenants = yield* Effect.all([tenantWith(vault), tenantWith(vault), tenantWith(vault)])
      const sealed = yield* Effect.forEach(tenants, (t) => vault.encrypt(t, "connections.refresh_token", "alice", secret))
      const next = masterKeys()
      const rotating = yield* vaultWith(KeyWrap.layerLocal({ current: next.current, previous: [old.current] }))
      assert.sameMembers([...(yield* rotating.rewrap)], tenants)
      assert.deepStrictEqual(yield* rotating.rewrap, [])
      const ids = yield* sql<{ master_key_id: string }>`SELECT DISTINCT master_key_id FROM tenants`
      assert.deepStrictEqual(ids.map((r) => r.master_key_id), [MasterKey.idOf(next.current)])
      const onlyNew = yield* vaultWith(KeyWrap.layerLocal(next))
      for (const [i, t] of tenants.entries()) {
        assert.strictEqual(Redacted.value(yield* onlyNew.decrypt(t, "connections.refresh_token", "alice", sealed[i]!)), Redacted.value(secret))
      }
    }).pipe(Effect.provide(database("sqlite")), Effect.scoped))

  it.live("a vault on a key file learns a rotated key from the file when it meets it", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "master.key")
      const old = masterKeys()
      yield* MasterKey.writeFile(path, old)
      const server = yield* vaultWith(KeyWrap.layerFile(path))
      const tenant = yield* tenantWith(server)
      const sealed = yield* server.encrypt(tenant, "connections.access_token", "bob", secret)
      // Another process rotates: a new key first in the file, the data key re-wrapped with it.
      const next = { current: masterKeys().current, previous: [old.current] }
      const rotator = yield* vaultWith(KeyWrap.layerLocal(next))
      yield* rotator.rewrap
      // Before the file has the new key, a cold cache cannot unwrap: the error names the key.
      yield* server.forget(tenant)
      const early = yield* Effect.flip(server.decrypt(tenant, "connections.access_token", "bob", sealed))
      assert.include(early.message, MasterKey.idOf(next.current))
      yield* MasterKey.writeFile(path, next)
      assert.strictEqual(Redacted.value(yield* server.decrypt(tenant, "connections.access_token", "bob", sealed)), Redacted.value(secret))
    }).pipe(Effect.provide(database("sqlite")), Effect.scoped))
})
