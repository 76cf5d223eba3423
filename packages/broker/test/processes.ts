/**
 * The built `subauth` binary as separate processes: `subauth broker serve`
 * (one or several replicas) and the admin commands, pointed at the fake
 * issuer through their environment. `npm test` builds the binary first.
 */
import { assert } from "@effect/vitest"
import { Effect, Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const bin = fileURLToPath(new URL("../../cli/bin/subauth.js", import.meta.url))
const bundle = fileURLToPath(new URL("../../cli/dist/subauth.cjs", import.meta.url))

/** The environment of a process pointed at the fake issuer, with its own home and cache. */
export const envFor = (home: string, issuerUrl: string) => ({
  HOME: home,
  XDG_CACHE_HOME: join(home, "cache"),
  SUBAUTH_HOME: join(home, "subauth"),
  SUBAUTH_ISSUER: issuerUrl,
  SUBAUTH_ALLOW_INSECURE_HTTP: "1",
  CI: "true"
})

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a `subauth` command to its end. */
export const subauth = (env: Record<string, string>, ...args: ReadonlyArray<string>) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
    })
    child.stdin?.end()
  })

export interface Replica {
  readonly url: string
  readonly child: ChildProcess
  /** What it printed on stderr so far (its JSON logs). */
  readonly logs: () => string
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Waits for the process to end by itself (after a signal sent with `child.kill`): its exit code or signal. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Starts `subauth broker serve --port 0 …` and waits until it listens; stopped when the scope closes. */
export const serve = (env: Record<string, string>, ...args: ReadonlyArray<string>): Effect.Effect<Replica, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Replica, Error>((resume) => {
      assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
      const child = spawn(process.execPath, [bin, "broker", "serve", "--port", "0", ...args], {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      let done = false
      const exited = new Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((r) =>
        child.once("exit", (code, signal) => r({ code, signal }))
      )
      const kill = (signal: NodeJS.Signals) =>
        Effect.promise(async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          await exited
        })
      child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
      child.stdout!.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
        const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
        if (found !== null && !done) {
          done = true
          resume(Effect.succeed({ url: found[1]!, child, logs: () => stderr, kill, exited: Effect.promise(() => exited) }))
        }
      })
      child.once("exit", (code) => {
        if (!done) {
          done = true
          resume(Effect.fail(new Error(`broker serve exited (${code}) before listening:\n${stdout}\n${stderr}`)))
        }
      })
    }),
    (replica) => replica.kill("SIGTERM").pipe(Effect.timeout("5 seconds"), Effect.orElse(() => replica.kill("SIGKILL")))
  )

/** A plain `fetch` with a key and a JSON body; the JSON answer. */
export const fetchJson = (url: string, method: string, key?: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method,
      headers: {
        ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await response.text()
    return { status: response.status, text, body: text === "" ? undefined : JSON.parse(text) }
  })
