/**
 * Keeps idle sign-ins alive. A refresh token that is never used may expire
 * (or be retired by the issuer) without anyone noticing until the user comes
 * back and is told to sign in again. A sweep looks for connections whose
 * tokens were obtained longer ago than {@link DEFAULT_AFTER} (7 days; the Codex
 * CLI refreshes after 8) and refreshes them with `refresh_reason: scheduled`.
 *
 * - **Through the usual lifecycle** (`Connections.refreshIfIdle`): single
 *   flight in this process, the user's lease in the database across
 *   replicas, and the stored tokens re-read under it, so a connection another
 *   replica refreshed meanwhile is adopted, not refreshed again. No refresh
 *   token is ever sent twice, however many replicas sweep at once.
 * - **Replicas share the work without coordinating**: each sweeps at a
 *   jittered interval, in a random order, and first re-reads each row, so
 *   they seldom meet on one user; when they do, the lease decides.
 * - **Skipped**: connections that must sign in again (`reauth_required`),
 *   signed-out users (no row), and sign-ins without a refresh token.
 * - A permanent failure marks the connection `reauth_required` (and tells the
 *   tenant's webhook), as any refresh would; a transient one is logged and
 *   tried again at the next sweep. Every refresh is audited
 *   (`token.refreshed`, reason `scheduled`).
 *
 * All time from `Clock`.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Clock, Context, Duration, Effect, Layer, Schema } from "effect"
import { DatabaseError } from "./BrokerError.js"
import { Connections } from "./Connections.js"
import { forkLoop } from "./internal/loop.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Refresh sign-ins whose tokens were obtained longer ago than this. Default {@link DEFAULT_AFTER}. */
  readonly after?: Duration.DurationInput
  /** How often a replica sweeps (each wait jittered by ±20 %). Default {@link DEFAULT_INTERVAL}. */
  readonly interval?: Duration.DurationInput
  /** Sign-ins refreshed at once by one replica. Default 4. */
  readonly concurrency?: number
  /** Sign-ins looked at per sweep at most (the oldest first); the rest wait for the next. Default 1,000. */
  readonly batch?: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_AFTER: Duration.Duration = Duration.days(7)

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_INTERVAL: Duration.Duration = Duration.minutes(10)

/**
 * What one sweep did.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepResult {
  /** Connections found idle. */
  readonly idle: number
  /** Of those, now holding tokens newer than the limit (refreshed here, or by another replica meanwhile). */
  readonly renewed: number
  /** Skipped on a second look (refreshed elsewhere before the lease was needed, signed out, dead). */
  readonly skipped: number
  /** Failed (a dead sign-in, now `reauth_required`, or a transient failure, tried again next time). */
  readonly failed: number
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace IdleRefresh {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** One sweep, with the limit computed from `Clock` now. */
    readonly sweep: Effect.Effect<SweepResult, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class IdleRefresh extends Context.Tag("@subauth/broker/IdleRefresh")<IdleRefresh, IdleRefresh.Service>() {}

const Candidate = Schema.Struct({ tenant_id: Schema.String, user_id: Schema.String })

// Options are checked when the layer is built: a wrong one is a programming error.
const positive = (name: string, value: number) =>
  Number.isInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.die(new TypeError(`"${name}" must be a positive integer, got ${value}`))

const finiteMillis = (name: string, input: Duration.DurationInput) => {
  const duration = Duration.decode(input)
  return Duration.isFinite(duration) && Duration.toMillis(duration) > 0
    ? Effect.succeed(Duration.toMillis(duration))
    : Effect.die(new TypeError(`"${name}" must be a finite positive duration, got ${Duration.format(duration)}`))
}

// Fisher-Yates: replicas sweeping the same batch start at different users. Not a secret: Math.random is enough.
const shuffled = <A>(items: ReadonlyArray<A>): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<IdleRefresh.Service, never, SqlClient.SqlClient | Connections> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const connections = yield* Connections
    const afterMillis = yield* finiteMillis("after", options.after ?? DEFAULT_AFTER)
    const concurrency = yield* positive("concurrency", options.concurrency ?? 4)
    const batch = yield* positive("batch", options.batch ?? 1000)

    const sweep = Effect.gen(function*() {
      const before = (yield* Clock.currentTimeMillis) - afterMillis
      // Every tenant's: this is the broker's own job, like the connect sessions' poll loop.
      const idle = yield* sql`SELECT tenant_id, user_id FROM connections
        WHERE status = 'connected' AND refresh_token IS NOT NULL AND obtained_at < ${before}
        ORDER BY obtained_at LIMIT ${batch}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(Candidate))),
        Effect.mapError((cause) => new DatabaseError({ reason: "Failed", description: "the database failed while looking for idle sign-ins", cause }))
      )
      const counts = { renewed: 0, skipped: 0, failed: 0 }
      yield* Effect.forEach(shuffled(idle), (row) =>
        connections.refreshIfIdle(row.tenant_id, row.user_id, before).pipe(
          Effect.tap((outcome) => Effect.sync(() => void counts[outcome]++)),
          Effect.catchAll((error) =>
            Effect.zipRight(
              Effect.sync(() => void counts.failed++),
              Effect.logWarning(`an idle sign-in could not be refreshed: ${error.message}`).pipe(
                Effect.annotateLogs({ tenant_id: row.tenant_id })
              )
            )
          )
        ), { concurrency, discard: true })
      if (idle.length > 0) {
        yield* Effect.logInfo(`idle refresh: ${idle.length} idle, ${counts.renewed} renewed, ${counts.skipped} skipped, ${counts.failed} failed`)
      }
      return { idle: idle.length, ...counts } satisfies SweepResult
    }).pipe(Effect.annotateLogs({ loop: "idle-refresh" }))

    return { sweep }
  })

/**
 * The service without its loop (tests and admin tools call `sweep`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutLoop = (options: Options = {}): Layer.Layer<IdleRefresh, never, SqlClient.SqlClient | Connections> =>
  Layer.effect(IdleRefresh, make(options))

/**
 * The service, and its sweep running for the life of the layer: one every
 * `interval` (jittered, so replicas drift apart). A sweep that fails (the
 * database is away) is logged and the loop goes on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<IdleRefresh, never, SqlClient.SqlClient | Connections> =>
  Layer.scoped(
    IdleRefresh,
    Effect.gen(function*() {
      const service = yield* make(options)
      const interval = yield* finiteMillis("interval", options.interval ?? DEFAULT_INTERVAL)
      // The first sweep after a pause too: replicas started together do not sweep together.
      yield* forkLoop({
        name: "idle-refresh",
        what: "the idle refresh sweep",
        round: Effect.zipRight(Effect.sleep(Duration.millis(interval * (0.8 + Math.random() * 0.4))), service.sweep),
        pause: Effect.void
      })
      return service
    })
  )
