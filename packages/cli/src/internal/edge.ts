/**
 * Where a program of the CLI meets the process: its stdout and stderr, their
 * terminals, `SUBAUTH_LOG`, the exit code and Ctrl-C. Shared by the two entry
 * points, `bin.ts` (every command) and `fastBin.ts` (`status` and `token`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Printable from "@subauth/core/Printable"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { isatty } from "node:tty"
import { ExitCode } from "./errors.js"
import * as Output from "../Output.js"
import * as Settings from "../Settings.js"
import { StopSignal } from "./stopSignal.js"

// Library logs go to stderr, and only errors unless SUBAUTH_LOG (debug, info, warning, …) asks for more. logfmt
// escapes a message's control characters but not an annotation's: the whole line is made one printable line.
const stderrLogger = Logger.make((options) => void process.stderr.write(`${Printable.line(Logger.logfmtLogger.log(options))}\n`))

const logLevel = Settings.logLevel.pipe(Config.withDefault(LogLevel.Error), Effect.orElseSucceed(() => LogLevel.Error))

// The services every command needs, provided as values rather than layers: building a layer costs a start about
// a millisecond, and `status` and `token` are started in loops.
const provideEdge = <A, E>(program: Effect.Effect<A, E, Settings.Settings | Output.Output>, terminals: Settings.Terminals) =>
  Effect.gen(function*() {
    const read = yield* Effect.either(Settings.fromConfig(terminals))
    if (Either.isLeft(read)) {
      // Before there is an Output to say it with: plain, on stderr, as a usage error.
      process.stderr.write(`error: invalid configuration: ${Printable.line(ConfigError.isInvalidData(read.left) ? read.left.message : String(read.left))}\n`)
      return ExitCode.Usage
    }
    const settings = read.right
    const level = yield* logLevel
    return yield* program.pipe(
      Effect.provideService(Output.Output, Output.forProcess(settings)),
      Effect.provideService(Settings.Settings, settings),
      Effect.locallyWith(FiberRef.currentLoggers, (loggers) => HashSet.add(HashSet.remove(loggers, Logger.defaultLogger), stderrLogger)),
      Logger.withMinimumLogLevel(level)
    )
  })

/** How the process was asked to stop, if it was: the first signal, and whether the program takes SIGTERM as its normal stop. */
export interface Stop {
  readonly signal: "SIGINT" | "SIGTERM" | undefined
  readonly sigtermIsNormalStop: boolean
}

/**
 * The exit code of a program's end, and the line said on stderr. An
 * interruption (Ctrl-C, SIGTERM) is "Cancelled." and 130, except SIGTERM to a
 * program that takes it as its normal stop (a server) and shut down cleanly:
 * "Stopped." and 0, what a supervisor expects.
 */
export const ending = (exit: Exit.Exit<number, unknown>, stop: Stop): { readonly code: number; readonly line?: string } => {
  if (Exit.isSuccess(exit)) return { code: exit.value }
  if (stop.signal === "SIGTERM" && stop.sigtermIsNormalStop && Cause.isInterruptedOnly(exit.cause)) {
    return { code: 0, line: "Stopped.\n" }
  }
  return { code: 130, line: "Cancelled.\n" }
}

/**
 * Runs a program of the CLI as the process: its result is the exit code; an
 * interruption exits 130, or 0 for SIGTERM to a server ({@link ending}).
 */
export const runMain = (program: Effect.Effect<number, never, Settings.Settings | Output.Output>): void => {
  // A closed pipe (`subauth models | head -1`) ends the program quietly, as for any Unix tool.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0)
      throw error
    })
  }
  const terminals: Settings.Terminals = {
    // Not process.stdin, which opens a stream (status and token never read it).
    stdinIsTTY: isatty(0),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    platform: process.platform
  }
  // Which signal came first. Registered before the runtime's own listeners (which interrupt the program), and
  // removed at the first signal as the runtime removes its own: a second Ctrl-C kills the process as usual.
  let signal: Stop["signal"]
  let sigtermIsNormalStop = false
  const onSignal = (received: NodeJS.Signals) => {
    signal = received === "SIGTERM" ? "SIGTERM" : "SIGINT"
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  provideEdge(program, terminals).pipe(
    Effect.provideService(StopSignal, { sigtermIsNormalStop: Effect.sync(() => void (sigtermIsNormalStop = true)) }),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => {
        process.removeListener("SIGINT", onSignal)
        process.removeListener("SIGTERM", onSignal)
        // Only an interruption (Ctrl-C, SIGTERM) ends the program without a code of its own.
        const end = ending(exit as Exit.Exit<number, unknown>, { signal, sigtermIsNormalStop })
        if (end.line !== undefined) process.stderr.write(end.line)
        onExit(end.code)
      }
    })
  )
}
