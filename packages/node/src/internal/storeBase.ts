/**
 * What the Node token stores share: the JSON form of a token set, the lock
 * timing, and the locking every store puts around a profile (this process's
 * keyed lock in front of the profile's lock file).
 */
import type { FileSystem } from "@effect/platform"
import * as TokenSet from "@subauth/core/TokenSet"
import * as TokenStore from "@subauth/core/TokenStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { join } from "node:path"
import type { LockOptions } from "../NodeTokenStore.js"
import { type Timing, withFileLock } from "./fileLock.js"

/** A lock its holder has not refreshed for this long is taken over. */
export const DEFAULT_STALE: Duration.Duration = Duration.seconds(10)

/** The directory of a profile's Codex `auth.json` under `codexHome`: the home itself for the default profile. */
export const codexHomeOf = (codexHome: string, profile: string): string =>
  profile === TokenStore.DEFAULT_PROFILE ? codexHome : join(codexHome, "subauth-profiles", profile)

/** The keychain service every subauth entry lives under. */
export const KEYCHAIN_SERVICE = "subauth"

/** What the `make*` constructors return: a store, once its directory or keychain is ready. */
export type Built = Effect.Effect<TokenStore.TokenStore.Service, TokenStore.TokenStoreError, FileSystem.FileSystem>

/** The content of a token file or keychain entry. */
export const FileContent = Schema.Struct({ version: Schema.Literal(1), tokens: TokenSet.TokenSet })

/** A token set as the JSON the stores write: the one place its tokens are read. */
export const serialize = (tokens: TokenSet.TokenSet, space?: number) =>
  Effect.map(Schema.encode(FileContent)({ version: 1, tokens }), (content) => JSON.stringify(content, null, space)).pipe(
    Effect.orDie
  )

const timingOf = (options: LockOptions = {}): Effect.Effect<Timing> => {
  const decode = (name: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
    const d = input === undefined ? fallback : Duration.decode(input)
    return Duration.isFinite(d) && Duration.toMillis(d) > 0
      ? Effect.succeed(Duration.toMillis(d))
      : Effect.die(new TypeError(`"lock.${name}" must be a finite, positive duration, got ${Duration.format(d)}`))
  }
  return Effect.gen(function*() {
    const stale = yield* decode("stale", options.stale, DEFAULT_STALE)
    const update = yield* decode("update", options.update, Duration.millis(stale / 4))
    if (update >= stale / 2) {
      return yield* Effect.die(new TypeError(`"lock.update" must be less than half of "lock.stale"`))
    }
    return {
      stale,
      update,
      retry: yield* decode("retry", options.retry, Duration.millis(50)),
      timeout: yield* decode("timeout", options.timeout, Duration.seconds(60))
    }
  })
}

/** A profile's `withLock`: this process's keyed lock in front of the profile's lock file. */
export type Locking = <A, E, R>(profile: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStore.TokenStoreError, R>

/** The locking every store shares, with lock files at `lockPathOf(profile)`. */
export const makeLocking = (
  fs: FileSystem.FileSystem,
  lockPathOf: (profile: string) => string,
  lock: LockOptions | undefined
): Effect.Effect<Locking> =>
  Effect.gen(function*() {
    const timing = yield* timingOf(lock)
    const keyed = yield* TokenStore.makeKeyedLock
    return <A, E, R>(profile: string, effect: Effect.Effect<A, E, R>) =>
      keyed(profile, withFileLock(fs, lockPathOf(profile), profile, timing, effect))
  })
