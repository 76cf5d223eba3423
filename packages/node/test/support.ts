import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { TokenSet, type TokenStore } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Deferred, type Duration, Effect, Exit, FiberId, Layer, Schema, type Scope } from "effect"
import { build } from "esbuild"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as NodeTokenStore from "../src/NodeTokenStore.js"

/** A private temporary directory, removed with the scope. */
export const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "subauth-test-" })).pipe(
  Effect.provide(NodeFileSystem.layer),
  Effect.orDie
)

/** Provides Node's file system and a scope. */
export const run = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Scope.Scope>) =>
  effect.pipe(Effect.provide(NodeFileSystem.layer), Effect.scoped)

/** A layer built from a fresh temporary directory, for suites that expect every test to start empty. */
export const fresh = <A, E>(make: (directory: string) => Layer.Layer<A, E>): Layer.Layer<A, E> =>
  Layer.unwrapScoped(Effect.map(tempDir, make))

export const encode = Schema.encodeSync(TokenSet.TokenSet)

/** A file's permission bits. */
export const modeOf = (path: string) => Effect.map(Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(path)), (i) => i.mode & 0o777)

/** A file store in a fresh directory, signed in with tokens from the fake issuer that are already due. */
export const signedInDue = Effect.gen(function*() {
  const server = yield* FakeOAuthServer.FakeOAuthServer
  const directory = yield* tempDir
  const store = yield* NodeTokenStore.makeFile(directory)
  const signedIn = yield* server.issueTokens()
  const due = new TokenSet.TokenSet({ ...signedIn, expiresAt: signedIn.obtainedAt })
  yield* store.set("default", due)
  return { server, directory, store, signedIn, due }
})

/** The `reason` of a failed store operation, or "ok". */
export const outcome = <A, R>(effect: Effect.Effect<A, TokenStore.TokenStoreError, R>) =>
  Effect.map(Effect.exit(effect), (exit) =>
    Exit.isSuccess(exit) ? "ok" : exit.cause._tag === "Fail" ? exit.cause.error.reason : `defect: ${String(exit.cause)}`)

/** The failure of a store operation (fails the test if it succeeded). */
export const failure = <A, R>(effect: Effect.Effect<A, TokenStore.TokenStoreError, R>) =>
  Effect.flip(effect).pipe(Effect.orDieWith(() => new Error("expected the operation to fail")))

// --- the Codex CLI -------------------------------------------------------------------------------

/**
 * Whether Codex CLI 0.169 loads an auth.json: a model of its serde structs
 * (storage.rs `AuthDotJson`, token_data.rs `TokenData`), checked in
 * `NodeTokenStore.codex.test.ts` against the real CLI's verdicts on every variant in the fixture.
 */
export const codexLoads = (text: string): boolean => {
  let file: unknown
  try {
    file = JSON.parse(text)
  } catch {
    return false
  }
  const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
  const optional = (u: unknown, ok: (v: unknown) => boolean) => u === undefined || u === null || ok(u)
  const string = (u: unknown) => typeof u === "string"
  if (!isObject(file)) return false
  const tokens = file.tokens
  const jwtPayload = (jwt: unknown) => {
    if (typeof jwt !== "string") return undefined
    const [h, p, s] = jwt.split(".")
    if (!h || !p || !s || !/^[A-Za-z0-9_-]+$/.test(p)) return undefined
    try {
      return JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as unknown
    } catch {
      return undefined
    }
  }
  return optional(file.auth_mode, (m) => ["apikey", "chatgpt", "chatgptAuthTokens", "agentIdentity"].includes(m as string)) &&
    optional(file.OPENAI_API_KEY, string) &&
    optional(file.last_refresh, (s) => string(s) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s as string)) &&
    optional(tokens, (t) =>
      isObject(t) && isObject(jwtPayload(t.id_token)) && string(t.access_token) && string(t.refresh_token) &&
      optional(t.account_id, string))
}

// --- child processes -----------------------------------------------------------------------------

/** What `workers/refresher.ts` is asked to do. */
export interface WorkerConfig {
  readonly mode: "refresh" | "hold-lock" | "die-before-write" | "auto" | "keychain"
  readonly store: { readonly kind: "file" | "codex"; readonly directory: string }
  readonly issuer: string
  readonly iterations: number
  readonly pauseMs: number
  readonly leeway: Duration.DurationInput
  readonly lock: { readonly stale: number; readonly update: number }
}

export interface Report {
  readonly event: string
  readonly pid: number
  readonly [key: string]: unknown
}

let bundle: Promise<string> | undefined

/** Bundles left by test processes that ended without running exit hooks (vitest kills its workers). */
const removeOrphans = (directory: string) => {
  for (const name of existsSync(directory) ? readdirSync(directory) : []) {
    const pid = Number(/^refresher-(\d+)-/.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch {
      rmSync(join(directory, name), { force: true })
    }
  }
}

/**
 * The worker bundled from source (esbuild, which vite brings) into one file
 * `node` runs in about 0.1 s: the same code the tests import, not a stale
 * `dist/`. It goes under `build/` so `node` resolves the native keyring module
 * from the workspace.
 */
const workerScript = () =>
  (bundle ??= (async () => {
    const directory = fileURLToPath(new URL("../build/test-workers/", import.meta.url))
    removeOrphans(directory)
    const outfile = join(directory, `refresher-${process.pid}-${randomBytes(3).toString("hex")}.mjs`)
    await build({
      entryPoints: [fileURLToPath(new URL("workers/refresher.ts", import.meta.url))],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      conditions: ["@subauth/source"],
      external: ["@napi-rs/keyring"],
      // Bundled CommonJS dependencies (undici) require Node's built-ins.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      logLevel: "error"
    })
    process.once("exit", () => rmSync(outfile, { force: true }))
    return outfile
  })())

/** A running worker: its reports as they arrive, and its end. */
export interface Worker {
  readonly process: ChildProcess
  readonly reports: Array<Report>
  /** Waits for the first report with this event. */
  readonly next: (event: string) => Effect.Effect<Report>
  /** Waits for the process to exit; its exit code, or the signal that ended it. */
  readonly exit: Effect.Effect<number | NodeJS.Signals>
  /** Everything the worker printed, for failure messages. */
  readonly output: () => string
}

/** Starts a worker, killed with the scope if still running. */
/** `env` adds to the test process's environment; an `undefined` value removes a variable. */
export const spawnWorker = (config: WorkerConfig, env: Record<string, string | undefined> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const script = await workerScript()
      const child = spawn(process.execPath, [script, JSON.stringify(config)], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...env }
      })
      const reports: Array<Report> = []
      const waiters: Array<() => void> = []
      let output = ""
      let buffered = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk
        buffered += chunk
        const lines = buffered.split("\n")
        buffered = lines.pop() ?? ""
        for (const line of lines) {
          if (line.startsWith("@@ ")) reports.push(JSON.parse(line.slice(3)) as Report)
        }
        waiters.splice(0).forEach((wake) => wake())
      })
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (output += chunk))
      const ended = Deferred.unsafeMake<number | NodeJS.Signals>(FiberId.none)
      child.once("exit", (code, signal) => {
        Deferred.unsafeDone(ended, Exit.succeed(signal ?? code ?? -1))
        waiters.splice(0).forEach((wake) => wake())
      })
      const next = (event: string): Effect.Effect<Report> =>
        Effect.suspend(() => {
          const found = reports.find((r) => r.event === event)
          if (found !== undefined) return Effect.succeed(found)
          if (child.exitCode !== null || child.signalCode !== null) {
            return Effect.dieMessage(`worker ${child.pid} ended without reporting "${event}":\n${output}`)
          }
          return Effect.zipRight(Effect.async<void>((resume) => void waiters.push(() => resume(Effect.void))), next(event))
        })
      return { process: child, reports, next, exit: Deferred.await(ended), output: () => output } satisfies Worker
    }),
    (worker) => Effect.sync(() => void (worker.process.exitCode === null && worker.process.kill("SIGKILL")))
  )
