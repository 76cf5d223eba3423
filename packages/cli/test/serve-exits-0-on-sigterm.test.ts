/**
 * `subauth serve` and `subauth broker serve` stopped by SIGTERM, as systemd,
 * Docker and Kubernetes stop them, exit 0 after the drain, without
 * "Cancelled."; they exited 130, which a supervisor reads as a failure. Ctrl-C
 * (SIGINT) stays a cancellation: 130. Other commands are cancelled by either.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, FiberId } from "effect"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { ending } from "../src/internal/edge.js"
import { binaryEnv, tempHome } from "./support.js"

const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))
const bundle = fileURLToPath(new URL("../dist/subauth.cjs", import.meta.url))

interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

/** Starts `subauth ...args`, waits until what it printed matches `ready`, sends `signal`, and waits for the end. */
const stopWith = (args: ReadonlyArray<string>, ready: RegExp, signal: NodeJS.Signals) =>
  Effect.gen(function*() {
    assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
    const home = yield* tempHome
    // Nothing answers there, and nothing needs to: not signed in, serve serves and warns.
    const env = binaryEnv(home, { issuer: "http://127.0.0.1:9", codexUrl: "http://127.0.0.1:9/backend-api/codex" })
    return yield* Effect.async<Ended>((resume) => {
      const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      let sent = false
      const check = () => {
        if (!sent && ready.test(stdout + stderr)) {
          sent = true
          child.kill(signal)
        }
      }
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        check()
      })
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
        check()
      })
      child.once("exit", (code, signal) => resume(Effect.succeed({ code, signal, stderr: sent ? stderr : `never ready: ${stdout}\n${stderr}` })))
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(Effect.timeout("30 seconds"))
  })

describe("a server stopped by a signal", () => {
  it.live("subauth serve: SIGTERM is a clean stop (exit 0, \"Stopped.\"); Ctrl-C (SIGINT) is still cancelled (130)", () =>
    Effect.gen(function*() {
      const serve = ["serve", "--port", "0"]
      const term = yield* stopWith(serve, /Press Ctrl-C to stop/, "SIGTERM")
      assert.deepStrictEqual({ code: term.code, signal: term.signal }, { code: 0, signal: null }, term.stderr)
      assert.include(term.stderr, "Stopping: finishing the requests in flight")
      assert.match(term.stderr, /Stopped\.\n$/)
      assert.notInclude(term.stderr, "Cancelled.")
      const int = yield* stopWith(serve, /Press Ctrl-C to stop/, "SIGINT")
      assert.deepStrictEqual({ code: int.code, signal: int.signal }, { code: 130, signal: null }, int.stderr)
      assert.match(int.stderr, /Cancelled\.\n$/)
    }).pipe(Effect.scoped), 60_000)

  it.live("subauth broker serve: SIGTERM is a clean stop (exit 0); Ctrl-C is cancelled (130)", () =>
    Effect.gen(function*() {
      const serve = ["broker", "serve", "--port", "0"]
      const term = yield* stopWith(serve, /Ctrl-C stops/, "SIGTERM")
      assert.deepStrictEqual({ code: term.code, signal: term.signal }, { code: 0, signal: null }, term.stderr)
      assert.include(term.stderr, "Stopping: finishing the requests in flight")
      assert.match(term.stderr, /Stopped\.\n$/)
      assert.notInclude(term.stderr, "Cancelled.")
      const int = yield* stopWith(serve, /Ctrl-C stops/, "SIGINT")
      assert.deepStrictEqual({ code: int.code, signal: int.signal }, { code: 130, signal: null }, int.stderr)
      assert.match(int.stderr, /Cancelled\.\n$/)
    }).pipe(Effect.scoped), 60_000)

  it("only a server that shut down cleanly takes SIGTERM as a normal stop", () => {
    const interrupted = Exit.failCause(Cause.interrupt(FiberId.none))
    const server = { sigtermIsNormalStop: true } as const
    assert.deepStrictEqual(ending(interrupted, { signal: "SIGTERM", ...server }), { code: 0, line: "Stopped.\n" })
    assert.deepStrictEqual(ending(interrupted, { signal: "SIGINT", ...server }), { code: 130, line: "Cancelled.\n" })
    // Any other command (a login waiting for its code, an answer streaming): cancelled, as before.
    assert.deepStrictEqual(ending(interrupted, { signal: "SIGTERM", sigtermIsNormalStop: false }), { code: 130, line: "Cancelled.\n" })
    // A shutdown that failed (a finalizer died) is not a clean stop.
    const broken = Exit.failCause(Cause.sequential(Cause.interrupt(FiberId.none), Cause.die(new Error("drain failed"))))
    assert.deepStrictEqual(ending(broken, { signal: "SIGTERM", ...server }), { code: 130, line: "Cancelled.\n" })
    assert.deepStrictEqual(ending(Exit.succeed(3), { signal: "SIGTERM", ...server }), { code: 3 })
  })
})
