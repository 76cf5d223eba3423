/**
 * Where a program of the CLI meets the process: its stdout and stderr, their
 * terminals, `SUBAUTH_LOG`, the exit code and Ctrl-C. Shared by the two entry
 * points, `bin.ts` (every command) and `fastBin.ts` (`status` and `token`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Printable from "@subauth/core/Printable"
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

/** Runs a program of the CLI as the process: its result is the exit code; an interruption exits 130. */
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
  provideEdge(program, terminals).pipe(
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => {
        // Only an interruption (Ctrl-C, SIGTERM) ends the program without a code of its own.
        if (Exit.isFailure(exit)) process.stderr.write("Cancelled.\n")
        onExit(Exit.isSuccess(exit) ? (exit.value as number) : 130)
      }
    })
  )
}
