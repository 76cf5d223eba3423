/**
 * A lock file cannot wedge refreshes: a lock whose holder no longer runs on
 * this host is taken over at once, whatever its mtime; a lock whose mtime is
 * in the future (a clock stepped back, a file server ahead) is taken over once
 * its mtime has not moved for the stale time; and a waiter that gives up on a
 * live holder never advises removing its lock.
 */
import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { Effect, Fiber, Logger } from "effect"
import { spawnSync } from "node:child_process"
import { readlinkSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { failure, run, tempDir } from "./support.js"

const DAY = 24 * 60 * 60 * 1000

const pidNamespace = (() => {
  try {
    return readlinkSync("/proc/self/ns/pid")
  } catch {
    return undefined
  }
})()

/** The pid of a process of this host that has ended. */
const deadPid = () => {
  const ended = spawnSync(process.execPath, ["-e", "0"])
  return ended.pid!
}

/** Writes a lock file as `holder` left it, with the given mtime. */
const plantLock = (path: string, holder: Record<string, unknown>, mtime: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(path, `${JSON.stringify({ since: "2026-01-01T00:00:00.000Z", token: "planted", ...holder })}\n`)
    yield* fs.utimes(path, new Date(mtime), new Date(mtime))
  })

const capture = (logs: Array<string>) =>
  Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))

describe("a lock cannot wedge refreshes", () => {
  it.live("a holder of this host that no longer runs: its lock is taken over at once, even with an mtime a day ahead", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      const store = yield* NodeTokenStore.makeFile(directory, { lock: { stale: "10 seconds", timeout: "3 seconds" } })
      const pid = deadPid()
      yield* plantLock(
        join(directory, "default.json.lock"),
        { pid, host: hostname(), ...(pidNamespace !== undefined ? { pidns: pidNamespace } : {}) },
        Date.now() + DAY
      )
      const logs: Array<string> = []
      const entered = yield* store.withLock("default", Effect.succeed("in")).pipe(Effect.provide(capture(logs)))
      assert.strictEqual(entered, "in")
      assert.isTrue(logs.some((l) => l.includes(`its holder (pid ${pid}) no longer runs on this host`)), logs.join("\n"))
    })))

  it.live("a holder elsewhere whose lock's mtime is a day ahead and never moves: taken over once it has not moved for the stale time", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      const store = yield* NodeTokenStore.makeFile(directory, { lock: { stale: "500 millis", update: "100 millis", timeout: "5 seconds" } })
      yield* plantLock(join(directory, "default.json.lock"), { pid: 4242, host: "another-host" }, Date.now() + DAY)
      const logs: Array<string> = []
      const entered = yield* store.withLock("default", Effect.succeed("in")).pipe(Effect.provide(capture(logs)))
      assert.strictEqual(entered, "in")
      assert.isTrue(logs.some((l) => l.includes("in the future")), logs.join("\n"))
    })))

  it.live("a live holder keeps its lock; the waiter that gives up says it is running, and never to remove the lock", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* tempDir
      const lock = { stale: "1 second", update: "100 millis", timeout: "1500 millis" } as const
      const holder = yield* NodeTokenStore.makeFile(directory, { lock })
      const waiter = yield* NodeTokenStore.makeFile(directory, { lock })
      const release = yield* Effect.makeLatch(false)
      const holding = yield* Effect.fork(holder.withLock("default", release.await))
      const lockFile = join(directory, "default.json.lock")
      while (!(yield* fs.exists(lockFile))) yield* Effect.sleep("10 millis")
      const error = yield* failure(waiter.withLock("default", Effect.void))
      assert.strictEqual(error.reason, "LockFailed")
      assert.include(error.message, `held by pid ${process.pid}`)
      assert.include(error.message, "still running")
      assert.notMatch(error.message, /remove|delete/i)
      yield* release.open
      yield* Fiber.join(holding)
    })))
})
