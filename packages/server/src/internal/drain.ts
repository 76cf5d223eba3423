/**
 * Graceful shutdown. When the server's scope closes, it stops accepting
 * connections, answers new requests on open connections with 503, lets the
 * requests in flight finish for a grace period, then cuts what is left: a
 * waiting request gets a 503, a stream gets its API's error event and a clean
 * end. Only then are the connections closed.
 */
import { Deferred, Duration, Effect, Exit, FiberId, type Scope } from "effect"
import type { Server } from "node:http"
import { RequestError } from "../ProxyError.js"

export interface Drain {
  /** Counts the request until its scope (the HTTP request's) closes; fails once shutdown has begun. */
  readonly enter: Effect.Effect<void, RequestError, Scope.Scope>
  /** `effect`, or a `ShuttingDown` failure when the grace period ends first. */
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RequestError, R>
  /** Completed when the grace period ends: streams end themselves then. */
  readonly cut: Deferred.Deferred<void>
  /** Drains and closes `server`. */
  readonly shutdown: (server: Server, grace: Duration.Duration) => Effect.Effect<void>
}

export const shuttingDown = (description: string) => new RequestError({ reason: "ShuttingDown", description })

/** How long closing connections may take once every request has ended. */
const CLOSE_TIMEOUT = Duration.seconds(2)

/**
 * For an app mounted in someone else's server: no draining of its own (the
 * server that mounts it decides when requests end).
 */
export const unmanaged: Drain = {
  enter: Effect.void,
  guard: (effect) => effect,
  cut: Deferred.unsafeMake<void>(FiberId.none),
  shutdown: () => Effect.void
}

export const make = (): Drain => {
  let closing = false
  let active = 0
  const idle = Deferred.unsafeMake<void>(FiberId.none)
  const cut = Deferred.unsafeMake<void>(FiberId.none)

  const leave = Effect.sync(() => {
    active--
    if (closing && active === 0) Deferred.unsafeDone(idle, Exit.void)
  })

  const enter = Effect.suspend(() => {
    if (closing) return Effect.fail(shuttingDown("not accepting new requests"))
    active++
    return Effect.addFinalizer(() => leave)
  })

  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.raceFirst(
      effect,
      Effect.zipRight(Deferred.await(cut), Effect.fail(shuttingDown("the request was cut off at the end of the grace period")))
    )

  // Finalizers run uninterruptibly; a wait that may time out must be interruptible itself.
  const within = <A>(deferred: Deferred.Deferred<A>, limit: Duration.Duration) =>
    Deferred.await(deferred).pipe(Effect.interruptible, Effect.timeout(limit), Effect.option)

  const shutdown = (server: Server, grace: Duration.Duration) =>
    Effect.gen(function*() {
      closing = true
      if (active === 0) Deferred.unsafeDone(idle, Exit.void)
      // New connections are refused from now on; `closed` completes when the last one has ended.
      const closed = Deferred.unsafeMake<void>(FiberId.none)
      server.close(() => Deferred.unsafeDone(closed, Exit.void))
      const waiting = active
      if (waiting > 0) {
        yield* Effect.logInfo(`shutting down: waiting up to ${Duration.format(grace)} for ${waiting} request(s) in flight`)
        const done = yield* within(idle, grace)
        if (done._tag === "None") yield* Effect.logInfo(`shutting down: closing ${active} request(s) still in flight`)
      }
      yield* Deferred.succeed(cut, undefined)
      yield* within(idle, CLOSE_TIMEOUT)
      // Keep-alive connections with nothing in flight would hold the server open.
      server.closeIdleConnections()
      const ended = yield* within(closed, CLOSE_TIMEOUT)
      if (ended._tag === "None") server.closeAllConnections()
    })

  return { enter, guard, cut, shutdown }
}
