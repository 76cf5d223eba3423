/**
 * The two database engines every broker test runs on: SQLite in a temporary
 * file, and PostgreSQL in a database of its own (created on 127.0.0.1:5432,
 * dropped afterwards). Where PostgreSQL is not reachable its tests are
 * skipped, saying why; in CI (`CI=true`) they fail instead.
 */
import { assert, describe, it } from "@effect/vitest"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SecureRandom } from "@subauth/core"
import { Duration, Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Audit from "../src/Audit.js"
import * as BrokerDatabase from "../src/BrokerDatabase.js"
import type { DatabaseError } from "../src/BrokerError.js"
import * as KeyWrap from "../src/KeyWrap.js"
import type * as MasterKey from "../src/MasterKey.js"
import * as Tenants from "../src/Tenants.js"
import * as Vault from "../src/Vault.js"

/** The server the PostgreSQL tests create their databases on. */
export const PG_ADMIN_URL = process.env.SUBAUTH_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const withUrlDatabase = (url: string, database: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

const admin = PgClient.layer({ url: Redacted.make(PG_ADMIN_URL), maxConnections: 2, connectTimeout: Duration.seconds(3) })

/** Whether PostgreSQL answers, and why not. */
export const postgresProblem: string | undefined = await Effect.runPromise(
  Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT 1`).pipe(
    Effect.provide(admin),
    Effect.as(undefined),
    Effect.catchAllCause(() => Effect.succeed(`PostgreSQL does not answer at ${new URL(PG_ADMIN_URL).host}`))
  )
)

/** A new empty database on the PostgreSQL server, dropped when the scope closes; its URL. */
export const freshPostgres = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `subauth_test_${randomBytes(6).toString("hex")}`
    yield* Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(Effect.provide(admin), Effect.orDie)
    return { name, url: withUrlDatabase(PG_ADMIN_URL, name) }
  }),
  ({ name }) =>
    Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).pipe(
      Effect.provide(admin),
      Effect.ignore
    )
).pipe(Effect.map(({ url }) => url))

/** A temporary directory, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-broker-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A fresh, empty database of the engine, as a location. */
export type Engine = "sqlite" | "postgres"

export const freshLocation = (engine: Engine) =>
  engine === "sqlite"
    ? Effect.map(tempDir, (dir): BrokerDatabase.Location => ({ _tag: "Sqlite", filename: join(dir, "broker.db") }))
    : Effect.map(freshPostgres, (url): BrokerDatabase.Location => ({ _tag: "Postgres", url: Redacted.make(url) }))

/** A fresh database of the engine, migrated. */
export const database = (engine: Engine): Layer.Layer<SqlClient.SqlClient, DatabaseError> =>
  Layer.unwrapScoped(Effect.map(freshLocation(engine), (location) =>
    BrokerDatabase.layer(location).pipe(Layer.tap((context) => Effect.provide(BrokerDatabase.migrate, context)))))

/** Random master keys. */
export const masterKeys = (count = 1): MasterKey.MasterKeys => {
  const keys = Array.from({ length: count }, () => Redacted.make(new Uint8Array(randomBytes(32))))
  return { current: keys[0]!, previous: keys.slice(1) }
}

/** Database, master key, vault and randomness: what every broker service stands on. */
export const foundation = (engine: Engine, keys: MasterKey.MasterKeys = masterKeys()) =>
  Vault.layer.pipe(
    Layer.provideMerge(KeyWrap.layerLocal(keys)),
    Layer.provideMerge(database(engine)),
    Layer.provideMerge(SecureRandom.layer)
  )

/**
 * Registers `body` once per engine. PostgreSQL's copy is skipped (saying why)
 * when it is not reachable, or fails in CI.
 */
export const forEachEngine = (title: string, body: (engine: Engine) => void): void => {
  describe(`${title} (SQLite)`, () => body("sqlite"))
  if (postgresProblem === undefined) {
    describe(`${title} (PostgreSQL)`, () => body("postgres"))
  } else if (process.env.CI === "true") {
    describe(`${title} (PostgreSQL)`, () => {
      it("runs against PostgreSQL in CI", () => {
        assert.fail(`${postgresProblem}; start it (pg_ctlcluster … main start) or set SUBAUTH_TEST_PG_URL`)
      })
    })
  } else {
    describe.skip(`${title} (PostgreSQL): skipped, ${postgresProblem}; start PostgreSQL on 127.0.0.1:5432 to run it`, () => {
      it("PostgreSQL tests", () => {})
    })
  }
}

/** Foundation plus the audit trail and tenants. */
export const services = (engine: Engine, keys: MasterKey.MasterKeys = masterKeys()) =>
  Tenants.layer.pipe(Layer.provideMerge(Audit.layer), Layer.provideMerge(foundation(engine, keys)))

/** A new tenant's id. */
export const newTenant = (name = "test app") => Effect.map(Effect.flatMap(Tenants.Tenants, (t) => t.create(name)), (r) => r.tenant.id)
