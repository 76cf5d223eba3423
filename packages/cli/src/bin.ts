/**
 * The only place where layers meet argv and the environment.
 */
// Deep imports: the package's index would also load undici, which cannot be tree-shaken.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Printable from "@subauth/core/Printable"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { createInterface } from "node:readline"
import { main } from "./Cli.js"
import * as Output from "./Output.js"
import * as Settings from "./Settings.js"

// A closed pipe (`subauth models | head -1`) ends the program quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0)
    throw error
  })
}

// A line from stdin, prompted on stderr (stdout may be piped).
const readLine = (prompt: string) =>
  Effect.async<Option.Option<string>>((resume) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true })
    let answered = false
    rl.question(prompt, (answer) => {
      answered = true
      rl.close()
      resume(Effect.succeed(Option.some(answer)))
    })
    rl.once("close", () => {
      if (!answered) resume(Effect.succeed(Option.none()))
    })
    return Effect.sync(() => rl.close())
  })

// All of stdin when it is piped (a prompt for ask); none on a terminal.
const readAll = Effect.async<Option.Option<string>>((resume) => {
  if (process.stdin.isTTY === true) return resume(Effect.succeed(Option.none()))
  const chunks: Array<Buffer> = []
  process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
  process.stdin.once("end", () => resume(Effect.succeed(Option.some(Buffer.concat(chunks).toString("utf8")))))
  process.stdin.once("error", () => resume(Effect.succeed(Option.none())))
})

// Library logs go to stderr, and only errors unless SUBAUTH_LOG (debug, info, warning, …) asks for more. logfmt
// escapes a message's control characters but not an annotation's: the whole line is made one printable line.
const logging = Layer.merge(
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((options) => void process.stderr.write(`${Printable.line(Logger.logfmtLogger.log(options))}\n`))
  ),
  Layer.unwrapEffect(
    Settings.logLevel.pipe(
      Config.withDefault(LogLevel.Error),
      Effect.orElseSucceed(() => LogLevel.Error),
      Effect.map(Logger.minimumLogLevel)
    )
  )
)

const terminals: Settings.Terminals = {
  stdinIsTTY: process.stdin.isTTY === true,
  stdoutIsTTY: process.stdout.isTTY === true,
  stderrIsTTY: process.stderr.isTTY === true,
  platform: process.platform
}

main(process.argv, { readLine, readAll }).pipe(
  Effect.provide(Output.layer),
  Effect.provide(Settings.layer(terminals)),
  // What @effect/cli needs, and no more (NodeContext would also load workers and child processes).
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
  Effect.provide(logging),
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
