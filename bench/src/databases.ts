/**
 * The databases the broker's benchmarks run on: SQLite in a temporary
 * directory, or a PostgreSQL database of their own on the development
 * machine's server (`SUBAUTH_BENCH_PG_URL`, default the trust-auth
 * `postgres` user on 127.0.0.1:5432), made and dropped with the scope.
 */
import { PgClient } from "@effect/sql-pg"
import type { BrokerDatabase } from "@subauth/broker"
import { Duration, Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export type Engine = "sqlite" | "postgres"

export const PG_ADMIN_URL = process.env.SUBAUTH_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const pgAdmin = PgClient.layer({ url: Redacted.make(PG_ADMIN_URL), maxConnections: 1, connectTimeout: Duration.seconds(3) })

/** Why PostgreSQL cannot be used, if it cannot. */
export const postgresProblem = Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT 1`).pipe(
  Effect.provide(pgAdmin),
  Effect.timeout("5 seconds"),
  Effect.as(undefined),
  Effect.catchAllCause(() => Effect.succeed(`PostgreSQL does not answer at ${new URL(PG_ADMIN_URL).host}`))
)

/**
 * A fresh database of the engine (removed or dropped with the scope): its
 * location, its URL for a broker process, and PostgreSQL's database name.
 * `sqliteFile` is the SQLite file's path in the temporary directory.
 */
export const freshDatabase = (engine: Engine, sqliteFile = "broker.db") =>
  engine === "sqlite"
    ? Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-bench-db-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ),
      (dir) => {
        const filename = join(dir, sqliteFile)
        return { location: { _tag: "Sqlite", filename } as BrokerDatabase.Location, url: `sqlite:${filename}`, database: undefined }
      }
    )
    : Effect.map(
      Effect.acquireRelease(
        Effect.gen(function*() {
          const name = `subauth_bench_${randomBytes(6).toString("hex")}`
          yield* Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(Effect.provide(pgAdmin), Effect.orDie)
          return name
        }),
        (name) =>
          Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).pipe(
            Effect.provide(pgAdmin),
            Effect.ignore
          )
      ),
      (name) => {
        const parsed = new URL(PG_ADMIN_URL)
        parsed.pathname = `/${name}`
        const url = parsed.toString()
        return { location: { _tag: "Postgres", url: Redacted.make(url) } as BrokerDatabase.Location, url, database: name }
      }
    )
