/**
 * Where the broker commands find their database and master key, and the
 * layers they are built from. Read once, here: the database URL (flag or
 * `SUBAUTH_BROKER_DATABASE_URL`, default SQLite in `$SUBAUTH_HOME/broker`),
 * the master key (`SUBAUTH_BROKER_MASTER_KEY`, `SUBAUTH_BROKER_MASTER_KEY_FILE`,
 * default `$SUBAUTH_HOME/broker/master.key`, made on first use of an empty
 * SQLite database only).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SqlClient } from "@effect/sql"
import { BrokerDatabase, BrokerError, KeyWrap, MasterKey } from "@subauth/broker"
import { SecureRandom } from "@subauth/core"
import { Config, Effect, Layer, Option, Redacted, Schema } from "effect"
import { join } from "node:path"
import type * as Settings from "../Settings.js"
import { UsageError } from "./errors.js"

export interface Where {
  readonly location: BrokerDatabase.Location
  /** Where the master key comes from, for messages. */
  readonly keySource: KeySource
}

export type KeySource =
  | { readonly _tag: "Env"; readonly keys: MasterKey.MasterKeys }
  | { readonly _tag: "File"; readonly path: string; readonly isDefault: boolean }

/** The broker's directory in SUBAUTH_HOME. */
export const brokerHome = (settings: Settings.Service) => join(settings.home, "broker")

/** The database and master key the command uses. */
export const where = (settings: Settings.Service, databaseUrl: Option.Option<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    const location: BrokerDatabase.Location = Option.isSome(databaseUrl)
      ? yield* BrokerDatabase.parseLocation(databaseUrl.value).pipe(
        Effect.mapError((error) => new UsageError({ message: `--database-url: ${error.message}` }))
      )
      : { _tag: "Sqlite", filename: join(brokerHome(settings), "broker.db") }
    const envKey = yield* Config.option(Config.redacted("SUBAUTH_BROKER_MASTER_KEY"))
    const fileKey = yield* Config.option(Config.nonEmptyString("SUBAUTH_BROKER_MASTER_KEY_FILE"))
    const keySource: KeySource = Option.isSome(envKey)
      ? { _tag: "Env", keys: yield* MasterKey.parse(envKey.value, "SUBAUTH_BROKER_MASTER_KEY") }
      : Option.isSome(fileKey)
      ? { _tag: "File", path: fileKey.value, isDefault: false }
      : { _tag: "File", path: join(brokerHome(settings), "master.key"), isDefault: true }
    // Replicas share one key, which no replica may invent: asked for before the database is even opened.
    if (location._tag === "Postgres" && keySource._tag === "File" && keySource.isDefault && !(yield* MasterKey.exists(keySource.path))) {
      return yield* new BrokerError.VaultError({
        reason: "NoMasterKey",
        description: "a broker on PostgreSQL needs the master key every replica shares: set SUBAUTH_BROKER_MASTER_KEY " +
          "(base64 of 32 random bytes: openssl rand -base64 32) or SUBAUTH_BROKER_MASTER_KEY_FILE"
      })
    }
    return { location, keySource } satisfies Where
  })

/** The database, migrated. */
export const database = (location: BrokerDatabase.Location, options: { readonly migrate: boolean }) =>
  BrokerDatabase.layer(location, { maxConnections: 10 }).pipe(
    Layer.tap((context) => (options.migrate ? Effect.asVoid(Effect.provide(BrokerDatabase.migrate, context)) : Effect.void))
  )

const Count = Schema.Struct({ n: Schema.Union(Schema.Number, Schema.NumberFromString) })

/**
 * The master key layer. The default key file is made when it is missing and
 * the database holds no data keys yet (an embedded broker's first start); a
 * database that does hold some needs its key back, and PostgreSQL (replicas)
 * needs one given explicitly.
 */
export const keyWrap = (where: Where): Layer.Layer<KeyWrap.KeyWrap, BrokerError.VaultError | BrokerError.DatabaseError, SqlClient.SqlClient | SecureRandom.SecureRandom> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const source = where.keySource
    if (source._tag === "Env") return KeyWrap.layerLocal(source.keys)
    if (yield* MasterKey.exists(source.path)) return KeyWrap.layerFile(source.path)
    if (!source.isDefault) {
      return yield* new BrokerError.VaultError({ reason: "NoMasterKey", description: `the master key file ${source.path} does not exist` })
    }
    if (where.location._tag === "Postgres") {
      return yield* new BrokerError.VaultError({ reason: "NoMasterKey", description: `the master key file ${source.path} does not exist` })
    }
    const sql = yield* SqlClient.SqlClient
    const [count] = yield* sql`SELECT COUNT(*) AS n FROM tenants`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(Count))),
      Effect.mapError((cause) => new BrokerError.DatabaseError({ reason: "Failed", description: "the tenants could not be counted", cause }))
    )
    if ((count?.n ?? 0) > 0) {
      return yield* new BrokerError.VaultError({
        reason: "NoMasterKey",
        description: `the master key file ${source.path} is missing, but the database holds tenants whose keys it wrapped; ` +
          "restore the file from your backup (without it their sign-ins cannot be read)"
      })
    }
    const made = yield* MasterKey.createFile(source.path, { current: yield* MasterKey.generate, previous: [] })
    if (made.created) yield* Effect.logInfo(`created the master key ${source.path}`)
    return KeyWrap.layerFile(source.path)
  }))

/** Where the key came from, in words. */
export const describeKey = (where: Where) =>
  where.keySource._tag === "Env" ? "SUBAUTH_BROKER_MASTER_KEY" : where.keySource.path

/** The issuer's HTTP client and randomness: what every broker command needs besides its database. */
export const platform = Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer)

export { Redacted }
