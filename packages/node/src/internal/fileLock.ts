/**
 * A lock shared by processes: a lock file created with `O_CREAT | O_EXCL`
 * (atomic on local filesystems), kept fresh by its holder, taken over once it
 * has gone stale, i.e. its holder stopped refreshing it (crashed, killed).
 *
 * This is proper-lockfile's design with one fix: proper-lockfile removes a
 * stale lock on the evidence of a `stat` taken a moment earlier, so two
 * processes that both saw the stale lock can both end up holding the new one
 * (moxystudio/node-proper-lockfile#121, open). Here a stale lock is removed
 * only while holding a second, short-lived "breaker" lock, after checking again
 * that it is stale: only one process can remove it, and nobody can remove a
 * fresh one.
 *
 * Time is wall-clock time, always: staleness compares file mtimes the kernel
 * sets with the current time, and a test clock must not stop the heartbeat.
 */
import { FileSystem } from "@effect/platform"
import type { TokenStore } from "@subauth/core"
import { Clock, Duration, Effect, Option, Random } from "effect"
import { randomUUID } from "node:crypto"
import { readFileSync, unlinkSync } from "node:fs"
import { hostname } from "node:os"
import { createExclusive, isNotFound, parseJson, statIfExists, storeError } from "./files.js"

/** Lock timing, validated, in milliseconds. */
export interface Timing {
  /** A lock not refreshed for this long is taken over. */
  readonly stale: number
  /** How often a holder refreshes its lock. */
  readonly update: number
  /** Pause between attempts while the lock is held elsewhere (jittered ±50%). */
  readonly retry: number
  /** Give up waiting after this long. */
  readonly timeout: number
}

const live = Clock.make()

// Locks held by this process, removed on a plain `process.exit()` where finalizers do not run.
const held = new Map<string, string>()
let exitHook = false
const releaseAllOnExit = () => {
  for (const [path, token] of held) {
    try {
      if (readFileSync(path, "utf8").includes(token)) unlinkSync(path)
    } catch {
      // Gone already, or unreadable: it goes stale on its own.
    }
  }
}

interface Holder {
  readonly pid?: number
  readonly host?: string
  readonly since?: string
}

const describeHolder = (text: string | undefined): string =>
  Option.match(Option.filter(parseJson(text ?? ""), (json): json is Holder => typeof json === "object" && json !== null), {
    onNone: () => "an unknown process",
    onSome: (holder) => `pid ${holder.pid ?? "?"} on ${holder.host ?? "?"} since ${holder.since ?? "?"}`
  })

const now = Clock.currentTimeMillis

/** The lock file's age by its mtime, or none if it does not exist. */
const ageOf = (path: string) =>
  Effect.zipWith(
    statIfExists(path),
    now,
    (info, t) => Option.map(info, (i) => t - Option.getOrElse(Option.map(i.mtime, (d) => d.getTime()), () => 0))
  )

const readText = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(Effect.map(Option.some), Effect.catchAll(() => Effect.succeedNone)))

const owns = (path: string, token: string) =>
  Effect.map(readText(path), (text) => Option.isSome(text) && text.value.includes(token))

/**
 * Removes the lock at `path` if it is still stale, under the breaker lock;
 * whether it did. Never fails: whatever goes wrong, the caller tries again.
 */
const breakIfStale = (path: string, timing: Timing, profile: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const breaker = `${path}.break`
    if (!(yield* createExclusive(breaker, String(process.pid)))) {
      // Someone else is breaking it. A breaker left by a crash mid-break is removed once stale itself.
      const age = yield* ageOf(breaker)
      if (Option.isSome(age) && age.value > timing.stale) yield* fs.remove(breaker)
      return false
    }
    return yield* Effect.gen(function*() {
      const age = yield* ageOf(path)
      if (Option.isNone(age) || age.value <= timing.stale) return false
      const holder = describeHolder(Option.getOrUndefined(yield* readText(path)))
      yield* fs.remove(path)
      yield* Effect.logWarning(
        `took over a stale token store lock held by ${holder}: not refreshed for ${Math.round(age.value / 1000)} s (the holder probably crashed)`
      ).pipe(Effect.annotateLogs({ profile, lock: path }))
      return true
    }).pipe(Effect.ensuring(fs.remove(breaker).pipe(Effect.ignore)))
  }).pipe(Effect.orElseSucceed(() => false))

/** One attempt: the lock's token if we created the file. */
const tryAcquire = (path: string) => {
  const token = randomUUID()
  return Effect.flatMap(now, (t) =>
    createExclusive(
      path,
      `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date(t).toISOString(), token })}\n`
    ).pipe(
      Effect.map((created) => {
        if (!created) return Option.none<string>()
        held.set(path, token)
        if (!exitHook) {
          exitHook = true
          process.once("exit", releaseAllOnExit)
        }
        return Option.some(token)
      })
    ))
}

const heartbeat = (path: string, token: string, timing: Timing) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    while (true) {
      yield* Effect.sleep(Duration.millis(timing.update))
      if (!(yield* owns(path, token))) {
        return yield* Effect.logError(
          "the token store lock was taken over while held (this process was stalled for longer than the stale time); " +
            "another process may refresh at the same time"
        )
      }
      const t = new Date(yield* now)
      yield* fs.utimes(path, t, t).pipe(Effect.catchAll((error) => Effect.logWarning(`could not refresh the lock: ${error.message}`)))
    }
  }).pipe(Effect.annotateLogs({ lock: path }))

const release = (path: string, token: string) =>
  Effect.gen(function*() {
    held.delete(path)
    if (yield* owns(path, token)) {
      const fs = yield* FileSystem.FileSystem
      yield* fs.remove(path).pipe(Effect.catchIf(isNotFound, () => Effect.void))
    } else {
      yield* Effect.logWarning("the token store lock was no longer ours when released; it was left alone")
    }
  }).pipe(
    Effect.catchAll((error) => Effect.logWarning(`could not release the lock: ${error.message}`)),
    Effect.annotateLogs({ lock: path })
  )

/**
 * Runs `effect` while holding the lock file at `path`. Waiting is
 * interruptible; taking the lock and letting it go are not, so an interrupted
 * waiter never leaves a lock behind. `fs` serves the lock alone: `effect` keeps
 * its own context.
 */
export const withFileLock = <A, E, R>(
  fs: FileSystem.FileSystem,
  path: string,
  profile: string,
  timing: Timing,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | TokenStore.TokenStoreError, R> => {
  const locking = <X, Y>(e: Effect.Effect<X, Y, FileSystem.FileSystem>) =>
    e.pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.withClock(live))
  return Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const started = yield* now
      while (true) {
        const token = yield* tryAcquire(path).pipe(
          Effect.mapError((error) => storeError("LockFailed", profile, path, "could not create the lock file", error))
        )
        if (Option.isSome(token)) return token.value
        if (yield* breakIfStale(path, timing, profile)) continue
        if ((yield* now) - started > timing.timeout) {
          const holder = describeHolder(Option.getOrUndefined(yield* readText(path)))
          return yield* storeError(
            "LockFailed",
            profile,
            path,
            `timed out after ${Math.round(timing.timeout / 1000)} s waiting for the lock held by ${holder}; ` +
              `if no process using these tokens is running, remove the lock file`
          )
        }
        const pause = yield* Random.nextRange(timing.retry / 2, timing.retry * 1.5)
        yield* restore(Effect.sleep(Duration.millis(pause)))
      }
    }).pipe(
      locking,
      Effect.flatMap((token) =>
        Effect.scoped(
          Effect.forkScoped(Effect.interruptible(locking(heartbeat(path, token, timing)))).pipe(
            Effect.zipRight(restore(effect))
          )
        ).pipe(Effect.ensuring(locking(release(path, token))))
      )
    )
  )
}
