/**
 * `subauth broker …`: the hosted credential broker's server and its admin
 * commands. They all work on the same database (SQLite by default, or
 * `--database-url` / `SUBAUTH_BROKER_DATABASE_URL`) and master key, also
 * while a server runs.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Audit, Broker, BrokerDatabase, BrokerServer, KeyWrap, MasterKey, Tenants, Vault } from "@subauth/broker"
import { Provider, SecureRandom, SubscriptionLLM } from "@subauth/core"
import { Config, Context, Duration, Effect, FiberRef, HashSet, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as BrokerLayers from "../internal/brokerLayers.js"
import { ExitCode, UsageError } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as StopSignal from "../internal/stopSignal.js"
import { Output } from "../Output.js"
import { logLevel, Settings } from "../Settings.js"

export interface DatabaseArgs {
  /** `--database-url`, or `SUBAUTH_BROKER_DATABASE_URL`. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
}

export interface ServeArgs extends DatabaseArgs {
  readonly host: string
  readonly port: number
  readonly migrate: boolean
  readonly leaseSeconds: number
  readonly lockWaitSeconds: number
  readonly publicUrl: Option.Option<string>
  readonly idleRefreshHours: number
  readonly idleSweepSeconds: number
  readonly allowInsecureWebhooks: boolean
}

// The admin commands act as `cli` in the audit trail.
const asCli = Audit.withActor({ actor: "cli" })

/** Database (migrated), master key, vault, audit and tenants: what the admin commands need. */
const admin = (args: DatabaseArgs) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const where = yield* BrokerLayers.where(yield* Settings, args.databaseUrl)
    return Broker.layerAdmin.pipe(
      Layer.provideMerge(BrokerLayers.keyWrap(where)),
      Layer.provideMerge(BrokerLayers.database(where.location, { migrate: true })),
      Layer.provideMerge(SecureRandom.layer)
    )
  }))

const check = (args: ServeArgs) => {
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    return Effect.fail(new UsageError({ message: `--port must be a port number (0 to 65535), got ${args.port}` }))
  }
  if (!(args.leaseSeconds >= 1 && args.leaseSeconds <= 300)) {
    return Effect.fail(new UsageError({ message: "--lease-seconds must be from 1 to 300" }))
  }
  if (!(args.lockWaitSeconds >= 0 && args.lockWaitSeconds <= 600)) {
    return Effect.fail(new UsageError({ message: "--lock-wait-seconds must be from 0 to 600" }))
  }
  if (!(Number.isInteger(args.idleRefreshHours) && args.idleRefreshHours >= 1 && args.idleRefreshHours <= 8760)) {
    return Effect.fail(new UsageError({ message: "--idle-refresh-hours (SUBAUTH_BROKER_IDLE_REFRESH_HOURS) must be from 1 to 8760" }))
  }
  if (!(Number.isInteger(args.idleSweepSeconds) && args.idleSweepSeconds >= 1 && args.idleSweepSeconds <= 86_400)) {
    return Effect.fail(new UsageError({ message: "--idle-sweep-seconds (SUBAUTH_BROKER_IDLE_SWEEP_SECONDS) must be from 1 to 86400" }))
  }
  return Effect.void
}

// The public address: an origin (the page's paths are absolute), https unless on a loopback host.
const publicOrigin = (publicUrl: Option.Option<string>) =>
  Option.match(publicUrl, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) => {
      const invalid = new UsageError({
        message: "--public-url must be an https origin such as https://broker.example.com (http only on a loopback host), without a path"
      })
      if (!URL.canParse(text)) return Effect.fail(invalid)
      const url = new URL(text)
      const secure = url.protocol === "https:" || (url.protocol === "http:" && Provider.isLoopback(url.hostname))
      return secure && url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.password === ""
        ? Effect.succeed(url.origin)
        : Effect.fail(invalid)
    }
  })

// A server's logs: JSON lines on stderr, from `info` unless SUBAUTH_LOG says otherwise.
const serverLogs = Layer.unwrapEffect(Effect.gen(function*() {
  const level = yield* Config.option(logLevel).pipe(Effect.orElseSucceed(() => Option.none<LogLevel.LogLevel>()))
  // Instead of the CLI's own logger, whatever that is.
  const json = Logger.make((options) => void process.stderr.write(`${Logger.jsonLogger.log(options)}\n`))
  return Layer.merge(
    Layer.locallyScoped(FiberRef.currentLoggers, HashSet.make(json)),
    Logger.minimumLogLevel(Option.getOrElse(level, () => LogLevel.Info))
  )
}))

/** Serves until SIGINT or SIGTERM; SIGTERM, how a supervisor stops it, is its normal stop (exit 0 after the drain). */
export const serve = (args: ServeArgs) =>
  Effect.gen(function*() {
    yield* StopSignal.sigtermIsNormalStop
    yield* check(args)
    const settings = yield* Settings
    const output = yield* Output
    const { style } = output
    const where = yield* BrokerLayers.where(settings, args.databaseUrl)
    const baseUrl = yield* Provider.checkBaseUrl(
      "SUBAUTH_CODEX_URL",
      Option.getOrElse(settings.codexUrl, () => SubscriptionLLM.DEFAULT_BASE_URL),
      settings.allowInsecureHttp
    )
    const publicUrl = yield* publicOrigin(args.publicUrl)
    const stack = BrokerServer.layer({ host: args.host, port: args.port, ...(publicUrl !== undefined ? { publicUrl } : {}) }).pipe(
      Layer.provideMerge(Broker.layer({
        backend: { baseUrl, originator: SubscriptionLLM.DEFAULT_ORIGINATOR },
        lease: { duration: Duration.seconds(args.leaseSeconds), wait: Duration.seconds(args.lockWaitSeconds) },
        idleRefresh: { after: Duration.hours(args.idleRefreshHours), interval: Duration.seconds(args.idleSweepSeconds) },
        webhooks: { allowInsecureHttp: args.allowInsecureWebhooks }
      })),
      Layer.provideMerge(BrokerLayers.keyWrap(where)),
      Layer.provideMerge(BrokerLayers.database(where.location, { migrate: args.migrate })),
      Layer.provideMerge(Layers.provider(settings)),
      Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer))
    )
    return yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(stack)
      const server = Context.get(context, BrokerServer.BrokerServer)
      if (!args.migrate) {
        yield* BrokerDatabase.checkReady.pipe(Effect.provide(context))
      }
      yield* output.out(`${style.green("Broker listening")} on ${style.bold(server.url)}`)
      yield* output.out(`  database:   ${BrokerDatabase.describe(where.location)}`)
      yield* output.out(`  connect:    ${publicUrl ?? server.url}/connect/… (the page users sign in on)`)
      yield* output.out(`  master key: ${BrokerLayers.describeKey(where)} (back it up with the database: without it no sign-in can be read)`)
      yield* output.info(style.dim(`API: ${server.url}/openapi.json · make a tenant: subauth broker tenant create NAME · Ctrl-C stops`))
      return yield* Effect.never.pipe(
        Effect.onInterrupt(() => output.info("Stopping: finishing the requests in flight…")),
        Effect.as(ExitCode.Ok)
      )
    }))
  }).pipe(Effect.provide(serverLogs))

export const migrate = (args: DatabaseArgs) =>
  Effect.gen(function*() {
    const output = yield* Output
    const where = yield* BrokerLayers.where(yield* Settings, args.databaseUrl)
    const ran = yield* BrokerDatabase.migrate.pipe(Effect.provide(BrokerLayers.database(where.location, { migrate: false })))
    yield* output.out(
      ran.length === 0
        ? `${BrokerDatabase.describe(where.location)} is up to date.`
        : `${BrokerDatabase.describe(where.location)}: ran ${ran.map(([id, name]) => `${id}_${name}`).join(", ")}.`
    )
    return ExitCode.Ok
  })

export interface TenantCreateArgs extends DatabaseArgs {
  readonly name: string
  readonly json: boolean
}

export const tenantCreate = (args: TenantCreateArgs) =>
  Effect.gen(function*() {
    const output = yield* Output
    const { tenant, key } = yield* Effect.flatMap(Tenants.Tenants, (t) => t.create(args.name)).pipe(asCli)
    if (args.json) {
      yield* output.json({ tenant: { id: tenant.id, name: tenant.name }, key: { id: key.id, secret: revealed(key.secret) } })
      return ExitCode.Ok
    }
    yield* output.out(`Tenant ${tenant.id} (${tenant.name}) created.`)
    yield* output.out(`API key ${key.id}: ${revealed(key.secret)}`)
    yield* output.info("The key is shown this once: keep it in your app's secrets (only its hash is stored).")
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

// The one place a key is revealed: the line that hands it to its owner, once.
const revealed = (secret: Redacted.Redacted<string>) => Redacted.value(secret)

export const tenantList = (args: DatabaseArgs & { readonly json: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    const tenants = yield* Tenants.Tenants
    const list = yield* tenants.list
    const rows = yield* Effect.forEach(list, (t) =>
      Effect.map(tenants.keys(t.id), (keys) => ({ id: t.id, name: t.name, created_at: new Date(t.createdAt).toISOString(), keys: keys.filter((k) => Option.isNone(k.revokedAt)).length })))
    if (args.json) {
      yield* output.json(rows)
      return ExitCode.Ok
    }
    if (rows.length === 0) yield* output.out("No tenants yet: subauth broker tenant create NAME")
    for (const row of rows) yield* output.out(`${row.id}  ${row.name}  (${row.keys} live key${row.keys === 1 ? "" : "s"}, created ${row.created_at})`)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const tenantDelete = (args: DatabaseArgs & { readonly tenantId: string; readonly yes: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    if (!args.yes) {
      return yield* new UsageError({
        message: `deleting a tenant deletes its data key and every sign-in of its users for good; add --yes to do it`
      })
    }
    const deleted = yield* Effect.flatMap(Tenants.Tenants, (t) => t.remove(args.tenantId)).pipe(asCli)
    if (!deleted) {
      yield* output.info(`There is no tenant ${args.tenantId}.`)
      return ExitCode.Failure
    }
    yield* output.out(`Tenant ${args.tenantId} deleted, with its data key: its users' sign-ins can no longer be read by anyone.`)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const keyCreate = (args: DatabaseArgs & { readonly tenantId: string; readonly label: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    const key = yield* Effect.flatMap(Tenants.Tenants, (t) => t.createKey(args.tenantId, args.label)).pipe(asCli)
    if (args.json) {
      yield* output.json({ id: key.id, tenant_id: key.tenantId, label: key.label, secret: revealed(key.secret) })
      return ExitCode.Ok
    }
    yield* output.out(`API key ${key.id} (${key.label}) for ${key.tenantId}: ${revealed(key.secret)}`)
    yield* output.info("The key is shown this once: keep it in your app's secrets.")
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const keyRevoke = (args: DatabaseArgs & { readonly keyId: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    const key = yield* Effect.flatMap(Tenants.Tenants, (t) => t.revokeKey(args.keyId)).pipe(asCli)
    if (Option.isNone(key)) {
      yield* output.info(`There is no API key ${args.keyId}.`)
      return ExitCode.Failure
    }
    if (args.json) yield* output.json({ id: key.value.id, tenant_id: key.value.tenantId, revoked: true })
    else yield* output.out(`API key ${key.value.id} (${key.value.label}) of ${key.value.tenantId} is revoked; every replica refuses it within a second.`)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const keyList = (args: DatabaseArgs & { readonly tenantId: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    const keys = yield* Effect.flatMap(Tenants.Tenants, (t) => t.keys(args.tenantId))
    const rows = keys.map((k) => ({
      id: k.id,
      label: k.label,
      created_at: new Date(k.createdAt).toISOString(),
      revoked_at: Option.getOrNull(Option.map(k.revokedAt, (at) => new Date(at).toISOString()))
    }))
    if (args.json) {
      yield* output.json(rows)
      return ExitCode.Ok
    }
    for (const row of rows) yield* output.out(`${row.id}  ${row.label}  ${row.revoked_at === null ? "live" : `revoked ${row.revoked_at}`}`)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const rotateMasterKey = (args: DatabaseArgs & { readonly json: boolean }) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const output = yield* Output
    const where = yield* BrokerLayers.where(settings, args.databaseUrl)
    const database = BrokerLayers.database(where.location, { migrate: true })
    const source = where.keySource
    // With a key file, a new key goes first in it (the old one still unwraps), and the old one leaves once all is re-wrapped.
    const fileKeys = source._tag === "File"
      ? Option.some({ path: source.path, before: yield* MasterKey.readFile(source.path) })
      : Option.none()
    const keys = Option.isSome(fileKeys)
      ? { current: yield* MasterKey.generate.pipe(Effect.provide(SecureRandom.layer)), previous: [fileKeys.value.before.current, ...fileKeys.value.before.previous] }
      : source._tag === "Env"
      ? source.keys
      : yield* Effect.dieMessage("unreachable")
    if (Option.isSome(fileKeys)) yield* MasterKey.writeFile(fileKeys.value.path, keys)
    const result = yield* Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const audit = yield* Audit.Audit
      const to = MasterKey.idOf(keys.current)
      const rewrapped = yield* vault.rewrap
      for (const tenantId of rewrapped) yield* audit.record(tenantId, "master_key.rotated", { detail: { to } })
      return { rewrapped, to }
    }).pipe(
      asCli,
      Effect.provide(Broker.layerAdmin.pipe(
        Layer.provideMerge(KeyWrap.layerLocal(keys)),
        Layer.provideMerge(database),
        Layer.provideMerge(SecureRandom.layer)
      ))
    )
    if (Option.isSome(fileKeys)) yield* MasterKey.writeFile(fileKeys.value.path, { current: keys.current, previous: [] })
    if (args.json) {
      yield* output.json({ master_key_id: result.to, rewrapped_tenants: result.rewrapped.length })
      return ExitCode.Ok
    }
    yield* output.out(`Re-wrapped ${result.rewrapped.length} tenant data key(s) with master key ${result.to}.`)
    if (Option.isSome(fileKeys)) {
      yield* output.info(`${fileKeys.value.path} now holds only the new key: back it up (the old backup no longer opens this database).`)
    } else if (keys.previous.length > 0) {
      yield* output.info("Every data key now uses the first key of SUBAUTH_BROKER_MASTER_KEY: the others can be removed from it on every replica.")
    }
    return ExitCode.Ok
  })

export interface ReturnUrlArgs extends DatabaseArgs {
  readonly tenantId: string
  readonly prefix: string
  readonly json: boolean
}

export const returnUrlAdd = (args: ReturnUrlArgs) =>
  Effect.gen(function*() {
    const output = yield* Output
    const added = yield* Effect.flatMap(Tenants.Tenants, (t) => t.addReturnUrl(args.tenantId, args.prefix)).pipe(asCli)
    if (args.json) yield* output.json({ tenant_id: args.tenantId, prefix: added })
    else yield* output.out(`The connect page may now send ${args.tenantId}'s users back to ${added} and anything under it.`)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))

export const returnUrlRemove = (args: ReturnUrlArgs) =>
  Effect.gen(function*() {
    const output = yield* Output
    const removed = yield* Effect.flatMap(Tenants.Tenants, (t) => t.removeReturnUrl(args.tenantId, args.prefix)).pipe(asCli)
    if (args.json) yield* output.json({ tenant_id: args.tenantId, prefix: args.prefix, removed })
    else yield* (removed ? output.out(`Removed ${args.prefix}.`) : output.info(`${args.tenantId} has no return address ${args.prefix}.`))
    return removed ? ExitCode.Ok : ExitCode.Failure
  }).pipe(Effect.provide(admin(args)))

export const returnUrlList = (args: DatabaseArgs & { readonly tenantId: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const output = yield* Output
    const prefixes = yield* Effect.flatMap(Tenants.Tenants, (t) => t.returnUrls(args.tenantId))
    if (args.json) yield* output.json(prefixes)
    else if (prefixes.length === 0) yield* output.info(`${args.tenantId} has no return addresses: connect sessions cannot have a return_url.`)
    else for (const prefix of prefixes) yield* output.out(prefix)
    return ExitCode.Ok
  }).pipe(Effect.provide(admin(args)))
