/**
 * The CLI's `LoginUI`: events rendered on stderr, a countdown while waiting
 * (only on a terminal), prompts read from stdin (only when interactive).
 */
import * as LoginUI from "@subauth/core/LoginUI"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { Output } from "../Output.js"
import { Settings } from "../Settings.js"
import { visibleLength } from "./wrap.js"

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

const left = (deadline: DateTime.Utc, now: DateTime.Utc) => {
  const ms = Math.max(0, DateTime.toEpochMillis(deadline) - DateTime.toEpochMillis(now))
  return `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}`
}

/** Reads one line from the person; none at end of input. */
export type ReadLine = (prompt: string) => Effect.Effect<Option.Option<string>>

export const layer = (readLine: ReadLine): Layer.Layer<LoginUI.LoginUI, never, Output | Settings> =>
  Layer.scoped(
    LoginUI.LoginUI,
    Effect.gen(function*() {
      const output = yield* Output
      const settings = yield* Settings
      const { style } = output
      let countdown: Fiber.RuntimeFiber<unknown> | undefined
      const stop = Effect.suspend(() => {
        const fiber = countdown
        countdown = undefined
        return fiber === undefined ? Effect.void : Effect.zipRight(Fiber.interrupt(fiber), output.status(""))
      })
      yield* Effect.addFinalizer(() => stop)

      const render = (event: LoginUI.LoginEvent, now: DateTime.Utc): string => {
        switch (event._tag) {
          case "Notice":
            return style.dim(event.text)
          case "Disclaimer":
            return `\n${event.text}\n`
          case "Warning":
            return style.yellow(`warning: ${event.text}`)
          case "AuthorizeUrl":
            return LoginUI.format(event, now).replace(event.url, style.cyan(event.url))
          case "DeviceCode":
            return LoginUI.format(event, now).replace(event.userCode, style.bold(event.userCode))
          case "Waiting":
            return LoginUI.format(event, now)
        }
      }

      const show = (event: LoginUI.LoginEvent) =>
        Effect.gen(function*() {
          yield* stop
          const now = yield* DateTime.now
          if (event._tag !== "Waiting" || !settings.stderrIsTTY) return yield* output.info(render(event, now))
          let frame = 0
          const tick = Effect.flatMap(DateTime.now, (t) => {
            const spinner = style.cyan(frames[frame++ % frames.length]!)
            const time = `${left(event.deadline, t)} left`
            // The longest of these that fits the terminal (Output cuts the last one if even it does not).
            const forms = [
              `${spinner} Waiting for ${event.what} · ${time} · ${style.dim("Ctrl-C to cancel")}`,
              `${spinner} Waiting for ${event.what} · ${time}`,
              `${spinner} Waiting · ${time} · ${style.dim("Ctrl-C to cancel")}`,
              `${spinner} Waiting · ${time}`
            ]
            return output.status((width) => forms.find((form) => visibleLength(form) <= width) ?? forms[forms.length - 1]!)
          })
          countdown = yield* Effect.forkDaemon(Effect.repeat(tick, Schedule.spaced(Duration.millis(250))))
        })

      return {
        interactive: settings.interactive,
        show,
        ask: (question) =>
          settings.interactive ? Effect.zipRight(stop, readLine(`${question} `)) : Effect.succeed(Option.none())
      }
    })
  )
