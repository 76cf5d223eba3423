/**
 * Runs the real command tree in-process: test settings pointing at the fake
 * servers, a temporary SUBAUTH_HOME, and captured stdout and stderr.
 */
import { NodeContext } from "@effect/platform-node"
import { FakeOAuthServer } from "@subauth/testing"
import { type Console, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cli from "../src/Cli.js"
import { accept } from "../src/internal/fastArgs.js"
import * as FastPath from "../src/internal/fastPath.js"
import * as Output from "../src/Output.js"
import * as Settings from "../src/Settings.js"

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A temporary SUBAUTH_HOME for the scope. */
export const tempHome = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/**
 * The environment of a newcomer running the built binary: a home, cache and
 * SUBAUTH_HOME of their own under `home`, the file store, no terminal (CI),
 * and the issuer and backend the test names (plain http on 127.0.0.1).
 */
export const binaryEnv = (
  home: string,
  servers: { readonly issuer: string; readonly codexUrl: string },
  extra: Readonly<Record<string, string>> = {}
): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: home,
  XDG_CACHE_HOME: `${home}/cache`,
  SUBAUTH_HOME: `${home}/subauth`,
  SUBAUTH_ISSUER: servers.issuer,
  SUBAUTH_CODEX_URL: servers.codexUrl,
  SUBAUTH_ALLOW_INSECURE_HTTP: "1",
  SUBAUTH_STORE: "file",
  CI: "true",
  ...extra
})

export const makeRunner = (options: {
  readonly home: string
  readonly issuer?: string
  readonly codexUrl?: string
  readonly interactive?: boolean
  readonly answers?: ReadonlyArray<string>
  readonly stdoutIsTTY?: boolean
  readonly stdin?: string
  /** Through the binary's fast path of `status` and `token` (`fastBin.ts`) instead of the command tree. */
  readonly fastPath?: boolean
}) => {
  const answers = [...(options.answers ?? [])]
  const settings: Settings.Service = {
    home: options.home,
    codexHome: join(options.home, "codex"),
    issuer: Option.fromNullable(options.issuer),
    codexUrl: Option.fromNullable(options.codexUrl),
    allowInsecureHttp: true,
    interactive: options.interactive ?? false,
    color: false,
    stderrIsTTY: false,
    stdoutIsTTY: options.stdoutIsTTY ?? false,
    displayLikely: false,
    platform: process.platform
  }
  return (...argv: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      let stdout = ""
      let stderr = ""
      const output = Output.make({ stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, {
        color: false,
        stderrIsTTY: false
      })
      // What @effect/cli prints itself (help, usage errors) goes through Console.
      const write = (sink: "out" | "err") => (...args: ReadonlyArray<unknown>) =>
        Effect.sync(() => {
          const text = `${args.map(String).join(" ")}\n`
          if (sink === "out") stdout += text
          else stderr += text
        })
      const base = yield* Effect.console
      const console: Console.Console = { ...base, log: write("out"), info: write("out"), error: write("err"), warn: write("err") }
      const fast = options.fastPath === true ? accept(["node", "subauth", ...argv], process.env) : undefined
      if (options.fastPath === true && fast === undefined) return yield* Effect.dieMessage(`not a fast path command line: ${argv.join(" ")}`)
      const program = fast !== undefined
        ? FastPath.run(fast)
        : Cli.main(["node", "subauth", ...argv], {
          readLine: () => Effect.succeed(Option.fromNullable(answers.shift())),
          readAll: Effect.succeed(Option.fromNullable(options.stdin))
        })
      const code = yield* program.pipe(
        Effect.withConsole(console),
        Effect.provide(Layer.mergeAll(Layer.succeed(Settings.Settings, settings), Layer.succeed(Output.Output, output), NodeContext.layer)),
        // As bin.ts does: library logs only for errors.
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
      return { code, stdout, stderr } satisfies Run
    })
}

/** A runner against a fresh fake issuer, with device codes approved at the first poll. */
export const withIssuer = (options: FakeOAuthServer.Options = {}) =>
  Effect.gen(function*() {
    const server = yield* FakeOAuthServer.make({ devicePendingPolls: 0, ...options })
    const home = yield* tempHome
    return { server, home, run: makeRunner({ home, issuer: server.url }) }
  })
