/**
 * Processes die at the worst moments: SIGKILL while holding the refresh lock,
 * and SIGKILL after the issuer answered a refresh but before the new tokens
 * were written. The store must still hold a whole token set, and the other
 * processes must get on with it once the dead holder's lock goes stale.
 */
import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Option, Redacted } from "effect"
import { join } from "node:path"
import { encode, signedInDue, spawnWorker, type WorkerConfig } from "./support.js"

// Short, so the tests wait about two seconds for a dead holder's lock to go stale.
const lock = { stale: 2_000, update: 400 }

const setUp = Effect.gen(function*() {
  const { directory, due, server, store } = yield* signedInDue
  const config = (mode: WorkerConfig["mode"], iterations = 1): WorkerConfig => ({
    mode,
    store: { kind: "file", directory },
    issuer: server.url,
    iterations,
    pauseMs: 5,
    leeway: "1 minute",
    lock
  })
  const refreshes = Effect.map(server.requests, (rs) => rs.filter((r) => r.endpoint === "token"))
  return { server, directory, store, due, config, refreshes, lockFile: join(directory, "default.json.lock") }
})

const killed = (worker: { readonly process: { kill: (s: NodeJS.Signals) => boolean }; readonly exit: Effect.Effect<unknown> }) =>
  Effect.zipRight(Effect.sync(() => worker.process.kill("SIGKILL")), worker.exit)

describe("crashes during a refresh", () => {
  it.live("a process killed while holding the lock: the others take the stale lock over and refresh once", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { config, due, lockFile, refreshes, store } = yield* setUp
      const holder = yield* spawnWorker(config("hold-lock"))
      yield* holder.next("locked")
      assert.strictEqual(yield* killed(holder), "SIGKILL")
      assert.isTrue(yield* fs.exists(lockFile), "the dead holder's lock file is left behind")

      const others = yield* Effect.forEach([1, 2, 3], () => spawnWorker(config("refresh", 5)), { concurrency: "unbounded" })
      const reports = yield* Effect.forEach(others, (w) => w.next("done"), { concurrency: "unbounded" })
      for (const report of reports) {
        assert.deepStrictEqual(report.errors, [])
        assert.strictEqual(report.ok, 5)
      }
      const sent = yield* refreshes
      assert.lengthOf(sent, 1)
      const stored = Option.getOrThrow(yield* store.get("default"))
      assert.isFalse(TokenSet.sameRefreshToken(stored, due))
      assert.isTrue(reports.every((r) => r.final === Redacted.value(stored.accessToken)))
      assert.isFalse(yield* fs.exists(lockFile), "the lock is released at the end")
    }).pipe(Effect.provide(FakeOAuthServer.layer()), Effect.provide(NodeFileSystem.layer), Effect.scoped), 30_000)

  it.live(
    "a process killed between the token response and the write: the store keeps the last whole set; the others get ReauthRequired, and a new sign-in works",
    () =>
      Effect.gen(function*() {
        const { config, due, refreshes, server, store } = yield* setUp
        const dying = yield* spawnWorker(config("die-before-write"))
        yield* dying.next("writing")
        assert.strictEqual(yield* killed(dying), "SIGKILL")
        // The issuer rotated: the stored refresh token is spent, and its successor died with the process.
        assert.lengthOf(yield* refreshes, 1)
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("default"))), encode(due))

        const others = yield* Effect.forEach([1, 2], () => spawnWorker(config("refresh", 3)), { concurrency: "unbounded" })
        const reports = yield* Effect.forEach(others, (w) => w.next("done"), { concurrency: "unbounded" })
        for (const report of reports) {
          assert.strictEqual(report.ok, 0)
          assert.deepStrictEqual(report.errors, Array(3).fill("ReauthRequired:RefreshTokenReused"))
        }
        // One refused attempt per process, not one per call; the stored set is still whole and untouched.
        assert.lengthOf(yield* refreshes, 3)
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("default"))), encode(due))

        // Signing in again replaces it, and everything works.
        yield* store.set("default", yield* server.issueTokens())
        const after = yield* spawnWorker(config("refresh", 3))
        const report = yield* after.next("done")
        assert.deepStrictEqual(report.errors, [])
        assert.strictEqual(report.ok, 3)
      }).pipe(Effect.provide(FakeOAuthServer.layer()), Effect.provide(NodeFileSystem.layer), Effect.scoped),
    30_000
  )
})
