/**
 * The latest rate-limit snapshot of each profile, kept where another process
 * finds it: `$SUBAUTH_HOME/usage/<profile>.json` (private files, written
 * whole: a temporary file renamed into place; see `layers.makePrivateFiles`).
 * `ask`, `models`, `serve` and `usage` write it (through
 * `SubscriptionLLM`'s `onRateLimits`); `status` reads it.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as RateLimits from "@subauth/core/RateLimits"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { existsSync, rmSync } from "node:fs"
import { join } from "node:path"
import type * as Settings from "../Settings.js"
import { ensureHome, makePrivateFiles } from "./layers.js"

/** Where the snapshots are. */
export const directory = (settings: Settings.Service): string => join(settings.home, "usage")

const keyOf = (profile: string) => `${profile}.json`

const encode = Schema.encode(RateLimits.Snapshot)
const decode = Schema.decodeUnknownOption(Schema.parseJson(RateLimits.Snapshot))

/**
 * Only every this many milliseconds is the same limits' snapshot written
 * again (`serve` sees them on every answer); a change is written at once.
 */
const REWRITE_EVERY = 30_000

/** The largest file {@link read} takes for a snapshot. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024

/**
 * What keeps `profile`'s snapshots: its store is made (and `SUBAUTH_HOME/usage`
 * created) at the first write. A write that fails is the caller's to log.
 */
export const writer = (settings: Settings.Service, profile: string) => {
  let store: KeyValueStore.KeyValueStore | undefined
  let last: { readonly limits: string; readonly at: number } | undefined
  return (snapshot: RateLimits.Snapshot) =>
    Effect.gen(function*() {
      const encoded = yield* encode(snapshot)
      const limits = JSON.stringify(encoded.limits)
      const at = Date.parse(encoded.seenAt)
      if (last !== undefined && last.limits === limits && at - last.at < REWRITE_EVERY) return
      if (store === undefined) {
        yield* ensureHome(settings)
        store = yield* makePrivateFiles(directory(settings)).pipe(Effect.provide(NodeFileSystem.layer))
      }
      yield* store.set(keyOf(profile), `${JSON.stringify(encoded)}\n`)
      last = { limits, at }
    })
}

/**
 * `profile`'s latest snapshot, if one was kept (a damaged file, or one larger
 * than {@link MAX_SNAPSHOT_BYTES}, reads as none).
 * Creates nothing.
 */
export const read = (settings: Settings.Service, profile: string): Effect.Effect<Option.Option<RateLimits.Snapshot>, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const path = join(directory(settings), encodeURIComponent(keyOf(profile)))
    if (!existsSync(path)) return Option.none()
    const fs = yield* FileSystem.FileSystem
    // A snapshot is a few hundred bytes: anything much larger is not one, and is not read.
    if ((yield* fs.stat(path)).size > MAX_SNAPSHOT_BYTES) return Option.none()
    const text = yield* fs.readFileString(path)
    return decode(text)
  }).pipe(Effect.orElseSucceed(() => Option.none<RateLimits.Snapshot>()))

/**
 * Forgets `profile`'s snapshot: at sign-out and at a new sign-in, so that
 * `status` never shows an earlier sign-in's (maybe another account's) limits
 * as this one's. A file that cannot be removed is logged at debug level.
 */
export const forget = (settings: Settings.Service, profile: string): Effect.Effect<void> =>
  Effect.try(() => rmSync(join(directory(settings), encodeURIComponent(keyOf(profile))), { force: true })).pipe(
    Effect.catchAll((error) => Effect.logDebug(`the usage snapshot of ${profile} was not removed: ${String(error.error)}`))
  )
