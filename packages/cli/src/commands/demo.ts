/**
 * The sandbox: a fake issuer and a fake Codex backend on 127.0.0.1, in this
 * process, and the real commands run against them in a temporary
 * SUBAUTH_HOME that is removed at the end. Nothing leaves the machine and no
 * account is needed.
 */
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { join } from "node:path"
import { ExitCode } from "../internal/errors.js"
import { temporaryDirectory } from "../internal/sandbox.js"
import type { ReadLine } from "../internal/terminalUi.js"
import * as Output from "../Output.js"
import { Settings } from "../Settings.js"

const ANSWER =
  "subauth signs you in the way the Codex CLI does, keeps your tokens safe and fresh, and lets your programs " +
  "use your ChatGPT subscription instead of an API key. This answer came from the fake backend, word by word."

/** The command tree, passed in to avoid an import cycle with Cli.ts. */
export type Main = (
  argv: ReadonlyArray<string>,
  options: { readonly readLine: ReadLine; readonly readAll: Effect.Effect<Option.Option<string>> }
) => Effect.Effect<number, never, Settings | Output.Output | import("@effect/cli").CliApp.CliApp.Environment>

export const run = (main: Main) =>
  Effect.scoped(Effect.gen(function*() {
    const settings = yield* Settings
    // Everything on stdout, in order: the demo is one story, read or logged as a whole.
    const output = Output.make({
      stdout: (t) => void process.stdout.write(t.replace(/(eyJ[\w-]{8})[\w.-]+/g, "$1…")),
      stderr: (t) => void process.stdout.write(t)
    }, { color: settings.color, stderrIsTTY: settings.stdoutIsTTY })
    const { style } = output
    const home = yield* temporaryDirectory("subauth-demo-")
    // The token itself is a secret even here: the output shows a prefix only.
    const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 2, deviceInterval: "1" })
    const backend = yield* FakeCodexBackend.make({
      respond: () => ({ items: [FakeCodexBackend.message(ANSWER, { chunks: 24 })], eventDelay: "40 millis" })
    }).pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
    const sandbox = {
      ...settings,
      home,
      codexHome: join(home, "codex"),
      issuer: Option.some(oauth.url),
      codexUrl: Option.some(backend.baseUrl),
      allowInsecureHttp: true
    }
    const noInput = {
      readLine: () => Effect.succeedNone,
      readAll: Effect.succeedNone
    }
    const step = (title: string, argv: ReadonlyArray<string>, expect = 0) =>
      Effect.gen(function*() {
        yield* output.info(`\n${style.bold(`▸ ${title}`)}\n${style.dim(`$ subauth ${argv.join(" ")}`)}`)
        const code = yield* main(["node", "subauth", ...argv], noInput).pipe(
          Effect.provideService(Settings, sandbox),
          Effect.provideService(Output.Output, output)
        )
        if (code !== expect) {
          yield* output.info(style.red(`the sandbox expected exit code ${expect}, got ${code}`))
          return yield* Effect.fail(code)
        }
        if (code !== 0) yield* output.info(style.dim(`(exit code ${code}, as expected)`))
      })

    const started = yield* Clock.currentTimeMillis
    yield* output.info(
      `${style.bold("subauth sandbox")}: a fake issuer (${oauth.url}) and a fake Codex backend (${backend.baseUrl}) run in this\n` +
        `process; the real commands run against them, with tokens in ${home}, removed at the end. No account needed.`
    )
    const ok = yield* Effect.gen(function*() {
      yield* step("Sign in with a device code (the fake approves it after two polls)", ["login", "--device", "--accept-terms", "--store", "file"])
      yield* step("Who is signed in", ["status", "--store", "file"])
      yield* step("Ask a model; the answer streams in", ["ask", "--store", "file", "What does subauth do?"])
      yield* step("Refresh the access token now (the refresh token rotates)", ["token", "--refresh", "--store", "file"])
      yield* backend.inject({
        endpoint: "responses",
        fault: FakeCodexBackend.usageLimit({ resetsAt: Math.floor(started / 1000) + 3 * 3600, resetsInSeconds: 3 * 3600 }),
        calls: [1]
      })
      yield* step("Hit the plan's usage limit (simulated): a typed error, exit code 4, no retry", ["ask", "--store", "file", "One more?"], ExitCode.UsageLimit)
      yield* step("Sign out: revoke at the issuer, delete the tokens", ["logout", "--store", "file"])
    }).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
    const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    if (!ok) return ExitCode.Failure
    yield* output.info(
      `\n${style.green("Done")} in ${seconds.toFixed(1)} s; the sandbox is gone. With your own account: ${style.bold("subauth login")}, then ${style.bold("subauth ask \"…\"")}.`
    )
    return ExitCode.Ok
  }))
