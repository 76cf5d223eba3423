/**
 * Where tokens live between runs: one entry per profile, so that one machine
 * can hold several accounts. Implementations are layers providing this Tag
 * (memory here; files, keychain, Codex `auth.json` and SQL elsewhere); every one
 * runs the contract suite `TokenStoreSuite` from `@subauth/testing`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { TokenSet } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@subauth/core/TokenStoreError")(
  "TokenStoreError",
  {
    reason: Schema.Literal(
      "InvalidProfile",
      "ReadFailed",
      "WriteFailed",
      "Corrupt",
      "InsecurePermissions",
      "LockFailed",
      "Unavailable",
      "DecryptFailed"
    ),
    profile: Schema.String,
    /** What was touched, e.g. a file path or a keychain entry; never a secret. */
    location: Schema.optional(Schema.String),
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `token store: ${this.description}${this.location ? ` (${this.location})` : ""}`
  }
}

/**
 * The name every command uses when none is given.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PROFILE = "default"

const profilePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * A profile name: 1 to 64 of `A-Z a-z 0-9 _ . -`, starting with a letter or
 * digit. Being safe as a file name and a keychain account is the point: no
 * separators, no `..`, nothing hidden.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Profile = Schema.String.pipe(
  Schema.filter((s) => profilePattern.test(s) && !s.includes(".."), {
    message: () => "a profile name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
  }),
  Schema.brand("@subauth/core/Profile")
)

/**
 * @since 0.1.0
 * @category schemas
 */
export type Profile = typeof Profile.Type

/**
 * Checks a profile name.
 *
 * @since 0.1.0
 * @category utils
 */
export const validateProfile = (profile: string): Effect.Effect<Profile, TokenStoreError> => {
  if (Schema.is(Profile)(profile)) return Effect.succeed(profile)
  // A long value is not echoed: it may be a token pasted in the wrong place.
  const shown = profile.length <= 32 ? JSON.stringify(profile) : `(a ${profile.length}-character value)`
  return Effect.fail(
    new TokenStoreError({
      reason: "InvalidProfile",
      profile: shown,
      description: `invalid profile name ${shown}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`
    })
  )
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace TokenStore {
  /**
   * The operations of a store, over profile names of type `P`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Operations<P extends string> {
    readonly get: (profile: P) => Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
    readonly set: (profile: P, tokens: TokenSet) => Effect.Effect<void, TokenStoreError>
    /** Removing a profile that has no tokens is not an error. */
    readonly remove: (profile: P) => Effect.Effect<void, TokenStoreError>
    /**
     * Runs `effect` while holding the profile's lock, excluding every other
     * holder of that lock (other fibers, and for shared stores other processes).
     * The token lifecycle refreshes inside it.
     */
    readonly withLock: <A, E, R>(profile: P, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>
  }

  /**
   * What an implementation provides: profiles arrive already validated.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Backing extends Operations<Profile> {}

  /**
   * What users call: any string, validated before it reaches the backing.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service extends Operations<string> {}
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@subauth/core/TokenStore")<TokenStore, TokenStore.Service>() {}

/**
 * Builds the service from a backing, adding profile validation in one place.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (backing: TokenStore.Backing): TokenStore.Service => ({
  get: (profile) => Effect.flatMap(validateProfile(profile), backing.get),
  set: (profile, tokens) => Effect.flatMap(validateProfile(profile), (p) => backing.set(p, tokens)),
  remove: (profile) => Effect.flatMap(validateProfile(profile), backing.remove),
  withLock: (profile, effect) => Effect.flatMap(validateProfile(profile), (p) => backing.withLock(p, effect))
})

/**
 * Per-key mutual exclusion inside one process, for stores to build their
 * `withLock` on (and to put in front of a cross-process lock). A key's entry
 * lives only while someone holds or waits for its lock, so memory does not
 * grow with the number of keys ever locked.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyedLock = Effect.sync(() => {
  const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  const withLock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        let lock = locks.get(key)
        if (lock === undefined) {
          lock = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
          locks.set(key, lock)
        }
        lock.users += 1
        return lock
      }),
      (lock) => lock.semaphore.withPermits(1)(effect),
      (lock) =>
        Effect.sync(() => {
          lock.users -= 1
          if (lock.users === 0) locks.delete(key)
        })
    )
  /** Keys with a holder or a waiter now. */
  const size = () => locks.size
  return Object.assign(withLock, { size })
})

/**
 * A store in memory, empty at start and gone with the process. For tests, and
 * for servers that receive tokens from elsewhere.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<TokenStore.Service> = Effect.gen(function*() {
  const entries = new Map<string, TokenSet>()
  const withLock = yield* makeKeyedLock
  return make({
    get: (profile) => Effect.sync(() => Option.fromNullable(entries.get(profile))),
    set: (profile, tokens) => Effect.sync(() => void entries.set(profile, tokens)),
    remove: (profile) => Effect.sync(() => void entries.delete(profile)),
    withLock
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)
