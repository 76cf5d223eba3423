/**
 * The broker's background loops (connect-session polling, webhook delivery,
 * the idle refresh sweep): a round, a pause, again, for the life of the
 * scope. A round that fails (the database is away) is logged and the loop
 * goes on.
 */
import { Effect, type Scope } from "effect"

export const forkLoop = <E extends { readonly message: string }, R>(options: {
  /** The `loop` annotation of its log lines. */
  readonly name: string
  /** What a failed round is called in the log: `${what} failed: …`. */
  readonly what: string
  readonly round: Effect.Effect<unknown, E, R>
  readonly pause: Effect.Effect<void>
}): Effect.Effect<void, never, R | Scope.Scope> =>
  options.round.pipe(
    Effect.catchAll((error) => Effect.logWarning(`${options.what} failed: ${error.message}`)),
    Effect.zipRight(options.pause),
    Effect.forever,
    Effect.annotateLogs({ service: "subauth-broker", loop: options.name }),
    Effect.forkScoped,
    Effect.asVoid
  )
