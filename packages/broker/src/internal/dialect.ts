/**
 * What differs between SQLite and PostgreSQL, in one place. Everything else
 * (upserts with `ON CONFLICT … DO UPDATE … WHERE`, `RETURNING`, the column
 * types) is written once for both.
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"

/** An auto-incrementing integer primary key. */
export const identityColumn = (sql: SqlClient.SqlClient): string =>
  sql.onDialectOrElse({
    pg: () => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    orElse: () => "INTEGER PRIMARY KEY AUTOINCREMENT"
  })

// Any constant: the key of the advisory lock that serialises migrations between replicas.
const MIGRATION_LOCK = 7_106_402_011

/**
 * Runs `effect` while no other broker runs migrations on the same database. On
 * PostgreSQL that is a session advisory lock held on a reserved connection
 * (replicas starting together would otherwise race to create the migrations
 * table); SQLite serialises writers itself.
 */
export const withMigrationLock = <A, E, R>(
  sql: SqlClient.SqlClient,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  sql.onDialectOrElse({
    pg: () =>
      Effect.scoped(Effect.gen(function*() {
        const connection = yield* sql.reserve
        yield* connection.executeUnprepared(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`, [], undefined)
        return yield* effect.pipe(
          Effect.ensuring(Effect.ignore(connection.executeUnprepared(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`, [], undefined)))
        )
      })),
    orElse: () => effect
  })

/** Per-connection settings: SQLite needs foreign keys switched on (for cascading deletes). */
export const configure = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError.SqlError> =>
  sql.onDialectOrElse({
    sqlite: () => Effect.asVoid(sql`PRAGMA foreign_keys = ON`),
    orElse: () => Effect.void
  })
