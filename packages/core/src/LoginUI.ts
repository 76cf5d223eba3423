/**
 * How a login talks to the person: what it shows and what it asks. Flows emit
 * {@link LoginEvent}s; a terminal prints them, the CLI draws a countdown, a test
 * records them. Nothing here reads `process.stdin` or knows about TTYs: whether
 * prompting is possible arrives as `interactive`, decided at the edge.
 *
 * @since 0.1.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"

/**
 * @since 0.1.0
 * @category models
 */
export type LoginEvent =
  | { readonly _tag: "Notice"; readonly text: string }
  | { readonly _tag: "Disclaimer"; readonly text: string }
  | { readonly _tag: "Warning"; readonly text: string }
  /** The authorize URL, always shown: opening a browser fails on headless machines. */
  | { readonly _tag: "AuthorizeUrl"; readonly url: string; readonly method: "browser" | "paste"; readonly opened: boolean }
  | {
    readonly _tag: "DeviceCode"
    readonly verificationUrl: string
    readonly userCode: string
    readonly expiresAt: DateTime.Utc
  }
  /** Waiting for the person until `deadline`; a UI may show the time left. */
  | { readonly _tag: "Waiting"; readonly what: string; readonly deadline: DateTime.Utc }

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Whether `ask` can reach a person (a terminal, and not CI). */
  readonly interactive: boolean
  readonly show: (event: LoginEvent) => Effect.Effect<void>
  /** A line typed by the person; none when not interactive or input ended. */
  readonly ask: (question: string) => Effect.Effect<Option.Option<string>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class LoginUI extends Context.Tag("@subauth/core/LoginUI")<LoginUI, Service>() {}

const timeLeft = (deadline: DateTime.Utc, now: DateTime.Utc): string => {
  const ms = Math.max(0, DateTime.toEpochMillis(deadline) - DateTime.toEpochMillis(now))
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.floor((ms % 60_000) / 1000)
  return `${minutes}:${String(seconds).padStart(2, "0")}`
}

/**
 * The plain-text rendering of an event, as of `now`.
 *
 * @since 0.1.0
 * @category utils
 */
export const format = (event: LoginEvent, now: DateTime.Utc): string => {
  switch (event._tag) {
    case "Notice":
    case "Disclaimer":
      return event.text
    case "Warning":
      return `warning: ${event.text}`
    case "AuthorizeUrl":
      return event.method === "browser"
        ? `${event.opened ? "Your browser should open. If it does not, open" : "Open"} this address to sign in:\n\n  ${event.url}\n`
        : `Open this address in any browser and sign in:\n\n  ${event.url}\n\n` +
          `When the browser shows an address starting with the redirect address (the page will not load), copy that whole address.`
    case "DeviceCode":
      return `To sign in, open ${event.verificationUrl} in a browser and enter this one-time code:\n\n  ${event.userCode}\n\n` +
        `The code expires in ${timeLeft(event.expiresAt, now)}. ` +
        `Device codes are a common phishing target: never share this code with anyone.`
    case "Waiting":
      return `Waiting for ${event.what} (${timeLeft(event.deadline, now)} left)…`
  }
}

/**
 * Prints events on the platform's `Terminal` and reads answers from it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTerminal = (options: { readonly interactive: boolean }): Layer.Layer<LoginUI, never, Terminal.Terminal> =>
  Layer.effect(
    LoginUI,
    Effect.map(Terminal.Terminal, (terminal): Service => ({
      interactive: options.interactive,
      show: (event) =>
        Effect.flatMap(DateTime.now, (now) => terminal.display(`${format(event, now)}\n`)).pipe(Effect.ignore),
      ask: (question) =>
        options.interactive
          ? terminal.display(`${question} `).pipe(
            Effect.zipRight(terminal.readLine),
            Effect.map(Option.some),
            Effect.orElseSucceed(() => Option.none<string>())
          )
          : Effect.succeed(Option.none())
    }))
  )

/**
 * A UI for tests: records every event and answers questions from `answers`, in
 * order (none once they run out).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTest = (options: { readonly interactive?: boolean; readonly answers?: ReadonlyArray<string> } = {}) =>
  Effect.gen(function*() {
    const events = yield* Ref.make<ReadonlyArray<LoginEvent>>([])
    const questions = yield* Ref.make<ReadonlyArray<string>>([])
    const answers = yield* Ref.make(options.answers ?? [])
    const service: Service = {
      interactive: options.interactive ?? true,
      show: (event) => Ref.update(events, (all) => [...all, event]),
      ask: (question) =>
        Ref.update(questions, (all) => [...all, question]).pipe(
          Effect.zipRight(Ref.modify(answers, ([first, ...rest]) => [Option.fromNullable(first), rest]))
        )
    }
    return { service, events: Ref.get(events), questions: Ref.get(questions) }
  })

/**
 * Emits `Waiting` with a deadline `timeout` from now; returns the deadline.
 *
 * @since 0.1.0
 * @category accessors
 */
export const waiting = (what: string, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    const ui = yield* LoginUI
    const deadline = DateTime.addDuration(yield* DateTime.now, timeout)
    yield* ui.show({ _tag: "Waiting", what, deadline })
    return deadline
  })
