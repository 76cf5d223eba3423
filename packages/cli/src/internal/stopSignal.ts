/**
 * What SIGTERM means to the command that runs. By default the same as Ctrl-C:
 * the command is cancelled (exit 130, "Cancelled."). A server declares it its
 * normal way to stop, as a supervisor (systemd, Docker, Kubernetes) stops it:
 * after the drain the process exits 0. The edge (`edge.ts`) provides this and
 * knows which signal came; without it (in-process tests) the declaration does
 * nothing.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

export class StopSignal extends Context.Tag("@subauth/cli/StopSignal")<StopSignal, {
  readonly sigtermIsNormalStop: Effect.Effect<void>
}>() {}

/** Declares that SIGTERM stops this command normally: exit 0 after a clean shutdown, not 130. */
export const sigtermIsNormalStop: Effect.Effect<void> = Effect.flatMap(
  Effect.serviceOption(StopSignal),
  Option.match({ onNone: () => Effect.void, onSome: (stop) => stop.sigtermIsNormalStop })
)
