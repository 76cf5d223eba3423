/**
 * The audit trail: who did what to which user, when, under which request.
 * Rows name events, actors (an API key id, `cli`, `broker`), request ids and
 * non-secret details (a reason code, a caller's label); never a token, a key
 * or a ciphertext. Read per tenant, newest last, with a cursor.
 *
 * The actor and request id come from the fiber ({@link withActor}), set once
 * per request by the server and once per command by the CLI.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Clock, Context, Deferred, Effect, Exit, FiberRef, Layer, Option, Queue, Schema, type Scope } from "effect"
import { DatabaseError } from "./BrokerError.js"
import { Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category models
 */
export const EventName = Schema.Literal(
  "tenant.created",
  "tenant.deleted",
  "key.created",
  "key.revoked",
  "sign_in.started",
  "consent.recorded",
  "connection.connected",
  "connection.replaced",
  "token.refreshed",
  "token.refresh_failed",
  "token.reuse_detected",
  "token.issued",
  "connection.signed_out",
  "connection.revoked",
  "connection.revoke_failed",
  "user.erased",
  "session.expired",
  "session.denied",
  "session.failed",
  "master_key.rotated",
  "return_url.added",
  "return_url.removed",
  "session_key.created",
  "session_key.revoked",
  "session_key.used",
  "usage.limit_reached",
  "webhook.configured",
  "webhook.removed",
  "webhook.secret_rotated"
)

/**
 * @since 0.1.0
 * @category models
 */
export type EventName = typeof EventName.Type

/**
 * Details of an event: short, non-secret values.
 *
 * @since 0.1.0
 * @category models
 */
export type Detail = Readonly<Record<string, string | number | boolean>>

/**
 * @since 0.1.0
 * @category models
 */
export class Entry extends Schema.Class<Entry>("@subauth/broker/Audit/Entry")({
  id: Schema.Number,
  user_id: Schema.NullOr(Schema.String),
  event: EventName,
  actor: Schema.String,
  request_id: Schema.NullOr(Schema.String),
  at: Schema.Number,
  detail: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) })
}) {}

/**
 * Who acts, and under which request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actor {
  readonly actor: string
  readonly requestId?: string | undefined
}

/**
 * @since 0.1.0
 * @category fiber refs
 */
export const currentActor: FiberRef.FiberRef<Actor> = FiberRef.unsafeMake<Actor>({ actor: "broker" })

/**
 * Runs `effect` as `actor`.
 *
 * @since 0.1.0
 * @category utils
 */
export const withActor = (actor: Actor) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, currentActor, actor)

/**
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly events: ReadonlyArray<Entry>
  /** Pass as `after` for the next page; none when this page is the last for now. */
  readonly next: Option.Option<number>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Audit {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly record: (
      tenantId: string,
      event: EventName,
      options?: { readonly userId?: string | undefined; readonly detail?: Detail }
    ) => Effect.Effect<void, DatabaseError>
    readonly list: (
      tenantId: string,
      options: { readonly userId?: string | undefined; readonly after?: number | undefined; readonly limit: number }
    ) => Effect.Effect<Page, DatabaseError>
    /** Deletes a user's trail (erasure); the erasure's own event is recorded after it. */
    readonly forget: (tenantId: string, userId: string) => Effect.Effect<void, DatabaseError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Audit extends Context.Tag("@subauth/broker/Audit")<Audit, Audit.Service>() {}

/**
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAGE = 500

const Row = Schema.Struct({
  id: Int,
  user_id: Schema.NullOr(Schema.String),
  event: EventName,
  actor: Schema.String,
  request_id: Schema.NullOr(Schema.String),
  at: Int,
  detail: Schema.NullOr(Schema.String)
})

// External text (labels, reasons) is kept short and free of control characters.
const clean = (value: string | number | boolean) =>
  typeof value === "string" ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").slice(0, 200) : value

const failed = (what: string) => (cause: unknown) => new DatabaseError({ reason: "Failed", description: `the audit trail could not be ${what}`, cause })

/**
 * Rows written per statement at most.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BATCH = 500

interface Pending {
  readonly row: Readonly<Record<string, string | number | null>>
  readonly done: Deferred.Deferred<void, DatabaseError>
}

/**
 * Builds the service. Rows are written in batches (group commit): a writer
 * fiber takes every row waiting, writes them in one statement, then tells each
 * writer; under load many requests share one commit, and a caller still
 * returns only once its row is stored, so a crash loses nothing that was
 * acknowledged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Audit.Service, never, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const queue = yield* Effect.acquireRelease(
    Queue.unbounded<Pending>(),
    (queue) =>
      // Whoever still waits when the service stops is told so, not left hanging.
      Effect.flatMap(Queue.takeAll(queue), (left) =>
        Effect.forEach(left, (p) =>
          Deferred.fail(p.done, new DatabaseError({ reason: "Unavailable", description: "the audit trail was closed" })), {
          discard: true
        })).pipe(Effect.zipRight(Queue.shutdown(queue)))
  )

  const writeBatch = (batch: ReadonlyArray<Pending>) =>
    Effect.gen(function*() {
      const written = yield* Effect.exit(
        sql`INSERT INTO audit ${sql.insert(batch.map((p) => p.row) as Array<Record<string, string | number | null>>)}`.pipe(
          Effect.mapError(failed("written"))
        )
      )
      for (const pending of batch) yield* Deferred.done(pending.done, Exit.asVoid(written))
    })

  yield* Effect.gen(function*() {
    for (;;) {
      const first = yield* Queue.take(queue)
      const more = yield* Queue.takeUpTo(queue, MAX_BATCH - 1)
      yield* writeBatch([first, ...more])
    }
  }).pipe(Effect.interruptible, Effect.forkScoped)

  return {
    record: (tenantId, event, options = {}) =>
      Effect.gen(function*() {
        const { actor, requestId } = yield* FiberRef.get(currentActor)
        const at = yield* Clock.currentTimeMillis
        const detail = options.detail === undefined
          ? null
          : JSON.stringify(Object.fromEntries(Object.entries(options.detail).map(([k, v]) => [k, clean(v)])))
        const done = yield* Deferred.make<void, DatabaseError>()
        const row = {
          tenant_id: tenantId,
          user_id: options.userId ?? null,
          event,
          actor,
          request_id: requestId ?? null,
          at,
          detail
        }
        yield* Queue.offer(queue, { row, done })
        return yield* Deferred.await(done)
      }),
    list: (tenantId, options) =>
      Effect.gen(function*() {
        const limit = Math.max(1, Math.min(MAX_PAGE, Math.floor(options.limit)))
        const after = options.after ?? 0
        const rows = options.userId === undefined
          ? yield* sql`SELECT id, user_id, event, actor, request_id, at, detail FROM audit
              WHERE tenant_id = ${tenantId} AND id > ${after} ORDER BY id LIMIT ${limit + 1}`
          : yield* sql`SELECT id, user_id, event, actor, request_id, at, detail FROM audit
              WHERE tenant_id = ${tenantId} AND user_id = ${options.userId} AND id > ${after} ORDER BY id LIMIT ${limit + 1}`
        const decoded = yield* Schema.decodeUnknown(Schema.Array(Row))(rows)
        const events = decoded.slice(0, limit).map((row) =>
          new Entry({
            ...row,
            detail: row.detail === null ? {} : (JSON.parse(row.detail) as Entry["detail"])
          })
        )
        return {
          events,
          next: decoded.length > limit ? Option.some(events[events.length - 1]!.id) : Option.none()
        }
      }).pipe(Effect.mapError(failed("read"))),
    forget: (tenantId, userId) =>
      sql`DELETE FROM audit WHERE tenant_id = ${tenantId} AND user_id = ${userId}`.pipe(Effect.asVoid, Effect.mapError(failed("erased")))
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Audit, never, SqlClient.SqlClient> = Layer.scoped(Audit, make)
