/**
 * Where the broker keeps everything: SQLite (embedded, the default) or
 * PostgreSQL (several replicas), both through `SqlClient` from `@effect/sql`
 * and one set of queries. Migrations run through `@effect/sql`'s migrator.
 *
 * - SQLite: one file (WAL), created 0600 in a 0700 directory; a file other
 *   users can read is refused. Several processes may open it (the server and
 *   the admin commands); writers wait for each other.
 * - PostgreSQL: `postgres://…`; replicas share it, and migrations take an
 *   advisory lock so that replicas starting together do not race.
 *
 * @since 0.1.0
 */
import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Duration, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { constants } from "node:fs"
import * as fs from "node:fs/promises"
import { dirname } from "node:path"
import { DatabaseError } from "./BrokerError.js"
import { configure, withMigrationLock } from "./internal/dialect.js"
import { LATEST, migrations } from "./internal/migrations.js"

/**
 * Which database: a SQLite file, or a PostgreSQL URL (a secret: it may hold a password).
 *
 * @since 0.1.0
 * @category models
 */
export type Location =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/**
 * Reads a database URL: `postgres://…` / `postgresql://…`, or `sqlite:PATH` /
 * `file:PATH` (a path is also taken as is).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseLocation = (url: Redacted.Redacted<string>): Either.Either<Location, DatabaseError> => {
  const value = Redacted.value(url).trim()
  if (/^postgres(ql)?:\/\//i.test(value)) {
    try {
      new URL(value)
    } catch {
      return Either.left(new DatabaseError({ reason: "Unavailable", description: "the PostgreSQL URL is not a valid URL" }))
    }
    return Either.right({ _tag: "Postgres", url: Redacted.make(value) })
  }
  const path = value.replace(/^(sqlite|file):(\/\/)?/i, "")
  if (path === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    return Either.left(
      new DatabaseError({
        reason: "Unavailable",
        description: "the database URL must be postgres://… (PostgreSQL) or sqlite:PATH (SQLite)"
      })
    )
  }
  return Either.right({ _tag: "Sqlite", filename: path })
}

/**
 * Where a location is, for messages: never the password.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (location: Location): string => {
  if (location._tag === "Sqlite") return `SQLite ${location.filename}`
  try {
    const url = new URL(Redacted.value(location.url))
    return `PostgreSQL ${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`
  } catch {
    return "PostgreSQL"
  }
}

const unavailable = (location: Location) => (error: SqlError.SqlError | { readonly cause?: unknown }) => {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return new DatabaseError({
    reason: "Unavailable",
    description: `the database (${describe(location)}) could not be opened${typeof code === "string" ? ` (${code})` : ""}`,
    cause: error.cause
  })
}

// The SQLite file and its directory are made private before SQLite opens them; one that others can read is refused.
const prepareSqliteFile = (filename: string) =>
  Effect.tryPromise({
    try: async () => {
      if (filename === ":memory:") return
      await fs.mkdir(dirname(filename), { recursive: true, mode: 0o700 })
      const handle = await fs.open(filename, constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o600)
      try {
        const stat = await handle.stat()
        if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
          throw Object.assign(new Error("insecure"), { code: "INSECURE", mode: stat.mode & 0o777 })
        }
      } finally {
        await handle.close()
      }
    },
    catch: (cause) => {
      const { code, mode } = cause as { code?: string; mode?: number }
      return code === "INSECURE"
        ? new DatabaseError({
          reason: "Unavailable",
          description: `the database file ${filename} is accessible to other users (mode ${(mode ?? 0).toString(8)}); ` +
            `make it private with: chmod 600 ${filename}`
        })
        : new DatabaseError({ reason: "Unavailable", description: `the database file ${filename} could not be created (${code ?? "error"})`, cause })
    }
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Connections in the PostgreSQL pool. Default 10. */
  readonly maxConnections?: number
}

/**
 * A `SqlClient` for `location`, checked by one query.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (location: Location, options: Options = {}): Layer.Layer<SqlClient.SqlClient, DatabaseError> => {
  const client: Layer.Layer<SqlClient.SqlClient, unknown> = location._tag === "Sqlite"
    ? Layer.unwrapEffect(Effect.as(prepareSqliteFile(location.filename), SqliteClient.layer({ filename: location.filename })))
    : PgClient.layer({
      url: location.url,
      maxConnections: options.maxConnections ?? 10,
      applicationName: "subauth-broker",
      connectTimeout: Duration.seconds(10)
    })
  const checked = Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) => configure(sql)).pipe(Effect.mapError(unavailable(location)))
  )
  return Layer.provideMerge(checked, client).pipe(
    Layer.mapError((error) => (error instanceof DatabaseError ? error : unavailable(location)(error as { cause?: unknown })))
  )
}

/**
 * Runs the migrations that have not run yet; returns those it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate: Effect.Effect<ReadonlyArray<readonly [number, string]>, DatabaseError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* withMigrationLock(sql, Migrator.make({})({ loader: Migrator.fromRecord(migrations) }))
  }
).pipe(
  Effect.catchAllDefect((defect) => Effect.fail(defect)),
  Effect.mapError((error) =>
    new DatabaseError({
      reason: "MigrationFailed",
      description: `the database could not be migrated: ${
        typeof error === "object" && error !== null && "message" in error ? String(error.message) : "unknown error"
      }`,
      cause: error
    })
  )
)

const MigrationRow = Schema.Struct({ migration_id: Schema.Union(Schema.Number, Schema.NumberFromString) })

/**
 * The newest migration applied (0 for a new database), and the newest this
 * version knows.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationStatus: Effect.Effect<{ readonly applied: number; readonly latest: number }, DatabaseError, SqlClient.SqlClient> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id DESC LIMIT 1`.pipe(
      Effect.map(Option.some),
      // No migrations table: nothing ran yet.
      Effect.catchTag("SqlError", () => Effect.succeed(Option.none<ReadonlyArray<unknown>>()))
    )
    const applied = Option.match(rows, {
      onNone: () => 0,
      onSome: (found) => (found.length === 0 ? 0 : Schema.decodeUnknownSync(MigrationRow)(found[0]).migration_id)
    })
    return { applied, latest: LATEST }
  })

/**
 * Fails with `NotMigrated` unless every migration this version knows has run:
 * `/readyz`, and a server that did not migrate itself.
 *
 * @since 0.1.0
 * @category migrations
 */
export const checkReady: Effect.Effect<void, DatabaseError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`.pipe(
    Effect.mapError((error) => new DatabaseError({ reason: "Unavailable", description: "the database does not answer", cause: error }))
  )
  const { applied, latest } = yield* migrationStatus
  if (applied < latest) {
    return yield* new DatabaseError({
      reason: "NotMigrated",
      description: `the database is at migration ${applied}, this broker needs ${latest}; run "subauth broker migrate"`
    })
  }
})
