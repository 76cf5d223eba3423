/**
 * The cross-process lock, driven in one process through independent store
 * instances: each has its own in-process lock, as separate processes would,
 * so only the lock file stands between them.
 */
import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import type { TokenStore } from "@subauth/core"
import { Cause, Effect, Exit, Fiber, Logger, LogLevel } from "effect"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { failure, run, tempDir } from "./support.js"


/** `instances` stores on one directory, as `instances` processes would open it. */
const stores = (instances: number, lock: NodeTokenStore.LockOptions) =>
  Effect.gen(function*() {
    const directory = yield* tempDir
    const all = yield* Effect.forEach(Array.from({ length: instances }), () => NodeTokenStore.makeFile(directory, { lock }))
    return { directory, stores: all, lockFile: join(directory, "default.json.lock") }
  })

/** Runs `critical` under every store's lock at once; how many were ever inside together. */
const mostInside = (all: ReadonlyArray<TokenStore.TokenStore.Service>, critical: Effect.Effect<void>) =>
  Effect.gen(function*() {
    let inside = 0
    let most = 0
    yield* Effect.forEach(
      all,
      (store) =>
        store.withLock(
          "default",
          Effect.gen(function*() {
            inside += 1
            most = Math.max(most, inside)
            yield* critical
            inside -= 1
          })
        ),
      { concurrency: "unbounded" }
    )
    return most
  })

/** Makes the lock file look like one a crashed process left `ageMs` ago. */
const abandonedLock = (path: string, ageMs: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(path, `${JSON.stringify({ pid: 999999, host: "elsewhere", since: "2026-01-01T00:00:00.000Z" })}\n`)
    const then = new Date(Date.now() - ageMs)
    yield* fs.utimes(path, then, then)
  })

describe("NodeTokenStore lock", () => {
  it.live("store instances (processes) exclude each other, and the lock file goes when released", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { lockFile, stores: all } = yield* stores(6, {})
      assert.strictEqual(yield* mostInside(all, Effect.sleep("5 millis")), 1)
      assert.isFalse(yield* fs.exists(lockFile))
    })))

  it.live("the lock file says who holds it, and nothing secret", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { lockFile, stores: [store] } = yield* stores(1, {})
      const content = yield* store!.withLock("default", fs.readFileString(lockFile))
      const holder = JSON.parse(content) as Record<string, unknown>
      // `pidns` (Linux): the PID namespace the pid belongs to, so that a dead holder is recognised only where its pid means it.
      const keys = ["host", "pid", ...(process.platform === "linux" ? ["pidns"] : []), "since", "token"]
      assert.deepStrictEqual(Object.keys(holder).sort(), keys)
      assert.strictEqual(holder.pid, process.pid)
      assert.isFalse(yield* fs.exists(lockFile))
    })))

  it.live("a lock abandoned by a crashed process is taken over once stale, with a warning", () =>
    run(Effect.gen(function*() {
      const { lockFile, stores: [store] } = yield* stores(1, { stale: "2 seconds", update: "200 millis" })
      yield* abandonedLock(lockFile, 5_000)
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(String(message)))
      assert.strictEqual(
        yield* store!.withLock("default", Effect.succeed("in")).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))),
        "in"
      )
      assert.isTrue(logs.some((l) => l.includes("took over a stale token store lock held by pid 999999 on elsewhere")), logs.join("\n"))
    })))

  it.live("a fresh lock is not taken over: waiting ends in LockFailed naming the holder, and its file is untouched", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { lockFile, stores: [store] } = yield* stores(1, { stale: "10 seconds", timeout: "300 millis" })
      yield* abandonedLock(lockFile, 0)
      const before = yield* fs.readFileString(lockFile)
      const error = yield* failure(store!.withLock("default", Effect.void))
      assert.strictEqual(error.reason, "LockFailed")
      assert.strictEqual(error.location, lockFile)
      assert.include(error.message, "held by pid 999999 on elsewhere")
      assert.strictEqual(yield* fs.readFileString(lockFile), before)
    })))

  it.live("many processes finding the same stale lock: exactly one holds it at a time", () =>
    run(Effect.gen(function*() {
      const { lockFile, stores: all } = yield* stores(8, { stale: "2 seconds", update: "200 millis", retry: "5 millis" })
      for (let round = 0; round < 5; round++) {
        yield* abandonedLock(lockFile, 10_000)
        assert.strictEqual(yield* mostInside(all, Effect.sleep("3 millis")), 1, `round ${round}`)
      }
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error))))

  it.live("a holder working longer than the stale time keeps its lock by refreshing it", () =>
    run(Effect.gen(function*() {
      const { stores: all } = yield* stores(2, { stale: "1500 millis", update: "150 millis", retry: "20 millis" })
      const [slow, other] = all
      let otherEntered = false
      let slowInside = false
      let overlapped = false
      const holder = yield* Effect.fork(
        slow!.withLock("default", Effect.gen(function*() {
          slowInside = true
          yield* Effect.sleep("2500 millis")
          overlapped = otherEntered
          slowInside = false
        }))
      )
      yield* Effect.sleep("100 millis")
      yield* other!.withLock("default", Effect.sync(() => void (otherEntered = slowInside || otherEntered)))
      yield* Fiber.join(holder)
      assert.isFalse(overlapped, "the waiter entered while the holder was still inside")
    })))

  it.live("an interrupted waiter leaves the holder's lock alone, and nothing is left after the holder", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { lockFile, stores: [a, b] } = yield* stores(2, {})
      const release = yield* Effect.makeLatch(false)
      const holder = yield* Effect.fork(a!.withLock("default", release.await))
      yield* Effect.sleep("50 millis")
      const waiter = yield* Effect.fork(b!.withLock("default", Effect.void))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(waiter)
      assert.isTrue(yield* fs.exists(lockFile))
      yield* release.open
      yield* Fiber.join(holder)
      assert.isFalse(yield* fs.exists(lockFile))
      // And the lock works afterwards.
      assert.strictEqual(yield* b!.withLock("default", Effect.succeed(1)), 1)
    })))

  it.live("lock timings are validated", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      for (const lock of [{ stale: "1 second", update: "600 millis" }, { stale: Infinity }, { timeout: "0 millis" }] as const) {
        const exit = yield* Effect.exit(NodeTokenStore.makeFile(directory, { lock }))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), JSON.stringify(lock))
      }
    })))
})
