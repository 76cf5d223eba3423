/**
 * 8 Node processes share one login and ask for a token 200 times each, the
 * token being due when they start, against the fake issuer over loopback:
 * how many refresh requests reach it, and the wall time from the moment all
 * of them start asking until the last is done (start-up excluded; reported
 * apart). Measured in the same run, as baselines: the same processes when each
 * has its own copy of the tokens (separate stores, no shared lock: what
 * containers or machines sharing a login do), and processes that only wait
 * for the start signal and exit.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { TokenSet } from "@subauth/core"
import { NodeTokenStore } from "@subauth/node"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { median, write } from "./results.js"

const PROCESSES = 8
const ITERATIONS = 200
const ROUNDS = 5
const worker = fileURLToPath(new URL("refreshWorker.js", import.meta.url))

interface Outcome {
  readonly ok: number
  readonly errors: ReadonlyArray<string>
}

interface Round extends Outcome {
  readonly startUpMs: number
  readonly wallMs: number
  readonly requests: number
}

interface Started {
  readonly go: () => void
  readonly done: Promise<Outcome>
}

/** Starts a worker; resolves once it is ready to ask. */
const startWorker = (directory: string, issuer: string, iterations: number) =>
  Effect.async<Started>((resume) => {
    const child = spawn(process.execPath, [worker, JSON.stringify({ directory, issuer, iterations })], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    let out = ""
    const done = new Promise<Outcome>((resolve) =>
      child.once("exit", () => {
        try {
          resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as Outcome)
        } catch {
          resolve({ ok: 0, errors: [`no result: ${out}`] })
        }
      })
    )
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      if (out.startsWith("ready\n")) resume(Effect.succeed({ go: () => child.stdin.end("go\n"), done }))
    })
  })

/** One round: `PROCESSES` workers, on one shared store or on a copy each. */
const round = (layout: "shared" | "copies", iterations: number) =>
  Effect.gen(function*() {
    const server = yield* FakeOAuthServer.FakeOAuthServer
    const issued = yield* server.issueTokens()
    const due = new TokenSet.TokenSet({ ...issued, expiresAt: issued.obtainedAt })
    const root = mkdtempSync(join(tmpdir(), "subauth-bench-"))
    const directories = Array.from({ length: PROCESSES }, (_, i) => join(root, layout === "shared" ? "shared" : `copy-${i}`))
    for (const directory of new Set(directories)) {
      yield* Effect.flatMap(NodeTokenStore.makeFile(directory), (store) => store.set("default", due))
    }
    yield* server.clearRequests
    const started = performance.now()
    const workers = yield* Effect.forEach(directories, (d) => startWorker(d, server.url, iterations), {
      concurrency: "unbounded"
    })
    const startUpMs = performance.now() - started
    const start = performance.now()
    workers.forEach((w) => w.go())
    const outcomes = yield* Effect.promise(() => Promise.all(workers.map((w) => w.done)))
    const wallMs = performance.now() - start
    rmSync(root, { recursive: true, force: true })
    const requests = (yield* server.requests).filter((r) => r.endpoint === "token").length
    const result: Round = {
      startUpMs,
      wallMs,
      requests,
      ok: outcomes.reduce((n, o) => n + o.ok, 0),
      errors: outcomes.flatMap((o) => o.errors)
    }
    return result
  }).pipe(Effect.provide(NodeFileSystem.layer))

export const run = async () => {
  const rounds = await Effect.runPromise(
    Effect.gen(function*() {
      const out = { shared: [] as Array<Round>, copies: [] as Array<Round>, noRequests: [] as Array<Round> }
      for (let i = 0; i < ROUNDS + 1; i++) {
        const shared = yield* round("shared", ITERATIONS)
        const copies = yield* round("copies", ITERATIONS)
        const noRequests = yield* round("copies", 0)
        if (i === 0) continue // warm-up
        out.shared.push(shared)
        out.copies.push(copies)
        out.noRequests.push(noRequests)
      }
      return out
    }).pipe(Effect.provide(FakeOAuthServer.layer().pipe(Layer.orDie)))
  )
  const sharedMs = median(rounds.shared.map((r) => r.wallMs))
  const noRequestsMs = median(rounds.noRequests.map((r) => r.wallMs))
  const result = {
    processes: PROCESSES,
    requestsPerProcess: ITERATIONS,
    rounds: ROUNDS,
    sharedStore: {
      refreshRequestsPerRound: rounds.shared.map((r) => r.requests),
      failedRequestsPerRound: rounds.shared.map((r) => r.errors.length),
      wallMs: Number(sharedMs.toFixed(1))
    },
    copyPerProcess: {
      refreshRequestsPerRound: rounds.copies.map((r) => r.requests),
      failedRequestsPerRound: rounds.copies.map((r) => r.errors.length),
      failures: [...new Set(rounds.copies.flatMap((r) => r.errors))],
      wallMs: Number(median(rounds.copies.map((r) => r.wallMs)).toFixed(1))
    },
    noRequestsWallMs: Number(noRequestsMs.toFixed(1)),
    processStartUpMs: Number(median(rounds.shared.map((r) => r.startUpMs)).toFixed(1)),
    sharedToNoRequests: Number((sharedMs / noRequestsMs).toFixed(2)),
    target: "shared store: exactly 1 refresh request and no failed request per round",
    meetsTarget: rounds.shared.every((r) => r.requests === 1 && r.errors.length === 0 && r.ok === PROCESSES * ITERATIONS)
  }
  write("multi-process-refresh", result)
  return result
}
