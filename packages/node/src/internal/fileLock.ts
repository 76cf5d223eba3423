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
 * A lock is stale when any of these holds (and it is removed only if it is
 * still the very lock that was judged: same mtime, same content):
 * - its holder ran on this host, in this PID namespace, and is not running any
 *   more: stale at once;
 * - its mtime is older than the stale time;
 * - its mtime has not changed for the stale time while this process watched
 *   it. This is what catches a lock whose mtime is in the future (a clock
 *   stepped back, a file server whose clock is ahead): an mtime that does not
 *   move is not a heartbeat, whatever it says.
 * A lock that is none of these has a live holder: a waiter that gives up says
 * so, and never advises removing it.
 *
 * Time is wall-clock time, always: staleness compares file mtimes the kernel
 * sets with the current time, and a test clock must not stop the heartbeat.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { TokenStore } from "@subauth/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import { randomUUID } from "node:crypto"
import { readFileSync, readlinkSync, unlinkSync } from "node:fs"
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
  /** Linux: the holder's PID namespace (`/proc/self/ns/pid`), so that a pid is looked up only where it means something. */
  readonly pidns?: string
}

const holderOf = (text: string | undefined): Holder | undefined =>
  Option.getOrUndefined(Option.filter(parseJson(text ?? ""), (json): json is Holder => typeof json === "object" && json !== null))

const describeHolder = (text: string | undefined): string => {
  const holder = holderOf(text)
  return holder === undefined
    ? "an unknown process"
    : `pid ${holder.pid ?? "?"} on ${holder.host ?? "?"} since ${holder.since ?? "?"}`
}

const ownPidNamespace = (() => {
  try {
    return readlinkSync("/proc/self/ns/pid")
  } catch {
    return undefined
  }
})()

/**
 * Whether the holder is a process of this host and PID namespace that is no
 * longer running. Unknown (another host, another namespace, no pid) is not dead.
 */
const holderIsDead = (holder: Holder | undefined): boolean => {
  if (holder === undefined || holder.host !== hostname() || holder.pidns !== ownPidNamespace) return false
  if (typeof holder.pid !== "number" || !Number.isInteger(holder.pid) || holder.pid <= 0) return false
  try {
    process.kill(holder.pid, 0)
    return false
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

const now = Clock.currentTimeMillis

const mtimeOf = (info: FileSystem.File.Info) => Option.getOrElse(Option.map(info.mtime, (d) => d.getTime()), () => 0)

/** The lock file's age by its mtime, or none if it does not exist. */
const ageOf = (path: string) =>
  Effect.zipWith(statIfExists(path), now, (info, t) => Option.map(info, (i) => t - mtimeOf(i)))

const readText = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(Effect.map(Option.some), Effect.catchAll(() => Effect.succeedNone)))

const owns = (path: string, token: string) =>
  Effect.map(readText(path), (text) => Option.isSome(text) && text.value.includes(token))

/** One look at a lock: its mtime and content. */
interface Sighting {
  readonly mtime: number
  readonly text: string
}

const look = (path: string) =>
  Effect.gen(function*() {
    const info = yield* statIfExists(path).pipe(Effect.orElseSucceed(() => Option.none<FileSystem.File.Info>()))
    if (Option.isNone(info)) return Option.none<Sighting>()
    const text = yield* readText(path)
    return Option.map(text, (t): Sighting => ({ mtime: mtimeOf(info.value), text: t }))
  })

/** Why a lock is stale, for the log; none while its holder looks alive. */
const stalenessOf = (sighting: Sighting, unchangedFor: number, at: number, timing: Timing): string | undefined => {
  const holder = holderOf(sighting.text)
  if (holderIsDead(holder)) return `its holder (pid ${holder?.pid}) no longer runs on this host`
  const age = at - sighting.mtime
  if (age > timing.stale) return `not refreshed for ${Math.round(age / 1000)} s (the holder probably crashed)`
  if (unchangedFor > timing.stale) {
    return `its time did not change for ${Math.round(unchangedFor / 1000)} s` +
      (age < 0 ? ` (it is ${Math.round(-age / 1000)} s in the future: a clock was stepped, or the file server's clock is ahead)` : "")
  }
  return undefined
}

/**
 * Removes the lock at `path` if it is still the lock that was seen stale
 * (same mtime, same content), under the breaker lock; whether it did. Never
 * fails: whatever goes wrong, the caller tries again.
 */
const breakIfStale = (path: string, seen: Sighting, why: string, timing: Timing, profile: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const breaker = `${path}.break`
    if (!(yield* createExclusive(breaker, String(process.pid)))) {
      // Someone else is breaking it. A breaker left by a crash mid-break is removed once stale itself.
      const age = yield* ageOf(breaker)
      if (Option.isSome(age) && Math.abs(age.value) > timing.stale) yield* fs.remove(breaker)
      return false
    }
    return yield* Effect.gen(function*() {
      const again = yield* look(path)
      if (Option.isNone(again) || again.value.mtime !== seen.mtime || again.value.text !== seen.text) return false
      yield* fs.remove(path)
      yield* Effect.logWarning(`took over a stale token store lock held by ${describeHolder(seen.text)}: ${why}`).pipe(
        Effect.annotateLogs({ profile, lock: path })
      )
      return true
    }).pipe(Effect.ensuring(fs.remove(breaker).pipe(Effect.ignore)))
  }).pipe(Effect.orElseSucceed(() => false))

/** One attempt: the lock's token if we created the file. */
const tryAcquire = (path: string) => {
  const token = randomUUID()
  return Effect.flatMap(now, (t) =>
    createExclusive(
      path,
      `${
        JSON.stringify({
          pid: process.pid,
          host: hostname(),
          since: new Date(t).toISOString(),
          token,
          ...(ownPidNamespace !== undefined ? { pidns: ownPidNamespace } : {})
        })
      }\n`
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
      // The lock as last seen, and since when it has looked exactly so (this process's clock).
      let seen: (Sighting & { readonly since: number }) | undefined
      while (true) {
        const token = yield* tryAcquire(path).pipe(
          Effect.mapError((error) => storeError("LockFailed", profile, path, "could not create the lock file", error))
        )
        if (Option.isSome(token)) return token.value
        const sighting = yield* look(path)
        const at = yield* now
        if (Option.isSome(sighting)) {
          if (seen === undefined || seen.mtime !== sighting.value.mtime || seen.text !== sighting.value.text) {
            seen = { ...sighting.value, since: at }
          }
          const why = stalenessOf(sighting.value, at - seen.since, at, timing)
          if (why !== undefined && (yield* breakIfStale(path, sighting.value, why, timing, profile))) continue
        }
        if (at - started > timing.timeout) {
          // Not stale, so its holder is alive (it keeps the lock fresh): never advise removing it.
          return yield* storeError(
            "LockFailed",
            profile,
            path,
            `timed out after ${Math.round(timing.timeout / 1000)} s waiting for the lock held by ` +
              `${describeHolder(Option.getOrUndefined(Option.map(sighting, (l) => l.text)))}, which is still running ` +
              `and keeps the lock fresh; try again when it has finished`
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
