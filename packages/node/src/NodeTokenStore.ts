/**
 * Token stores on Node, each a layer providing core's `TokenStore`:
 *
 * - `layerFile(dir)`: one JSON file per profile (`<profile>.json`), directory
 *   0700, files 0600, replaced atomically.
 * - `layerEncryptedFile(dir, { key })`: the same layout (`<profile>.jwe`), each
 *   file a JWE (`dir`, `A256GCM`) under a key from a config value, a key file
 *   or the OS keychain.
 * - `layerKeychain(options)`: the OS keychain, service `subauth`, one account
 *   per profile.
 * - `layerCodex(codexHome)`: the Codex CLI's own `auth.json`, so one sign-in
 *   serves both `codex` and subauth.
 * - `layerAuto(options)`: the keychain when it works, else files, saying which.
 * - `layerConfig()`: any of these, chosen and configured through `Config`.
 *
 * Refreshes are safe across processes: `withLock` takes an in-process lock per
 * profile, then a lock file next to the tokens, which a crashed holder cannot
 * keep: it goes stale after `lock.stale` (default 10 s) without the holder's
 * heartbeat and is taken over.
 *
 * Files that other users can read are refused (`InsecurePermissions`, with the
 * `chmod` that fixes them), never silently repaired; a file that does not hold
 * tokens is `Corrupt` and left as it is. Errors name paths and keychain
 * entries, never tokens.
 *
 * @see protocol.md §3.5, §4.2
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { TokenSet, TokenStore } from "@subauth/core"
import { Config, type ConfigError, Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as jose from "jose"
import { createHash, randomBytes } from "node:crypto"
import { homedir } from "node:os"
import { join } from "node:path"
import * as CodexAuth from "./internal/codexAuth.js"
import * as Files from "./internal/files.js"
import { type Timing, withFileLock } from "./internal/fileLock.js"
import * as Keychain from "./internal/keychain.js"

// --- options ------------------------------------------------------------------------------------

/**
 * How the cross-process lock behaves.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** A lock its holder has not refreshed for this long is taken over. Default 10 seconds. */
  readonly stale?: Duration.DurationInput
  /** How often a holder refreshes its lock; less than half of `stale`. Default `stale / 4`. */
  readonly update?: Duration.DurationInput
  /** Pause between attempts while another process holds the lock (jittered). Default 50 ms. */
  readonly retry?: Duration.DurationInput
  /** Give up waiting (`LockFailed`) after this long. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FileOptions {
  readonly lock?: LockOptions
}

/**
 * Linux only: which credential store holds keychain entries. The keyring
 * library's own default falls back from the Secret Service to the kernel
 * keyring (`keyutils`), which forgets everything at reboot, without a word; so
 * subauth asks for the Secret Service by name unless told otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export type LinuxStore = "secret-service" | "keyutils"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_STALE: Duration.Duration = Duration.seconds(10)

/**
 * The keychain service every subauth entry lives under.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEYCHAIN_SERVICE = "subauth"

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

// --- store info ---------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export type Kind = "file" | "encrypted-file" | "keychain" | "codex"

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace StoreInfo {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly kind: Kind
    /** The directory, `auth.json` or keychain service the tokens are in. */
    readonly location: string
    /** Why this store was chosen over another (`layerAuto`, `layerConfig`). */
    readonly note: Option.Option<string>
  }
}

/**
 * Which store the layer built, and where its tokens are: every layer here
 * provides it next to `TokenStore`, so a program can say where tokens live
 * (and `layerAuto` can say whether it fell back from the keychain).
 *
 * @since 0.1.0
 * @category tags
 */
export class StoreInfo extends Context.Tag("@subauth/node/NodeTokenStore/StoreInfo")<StoreInfo, StoreInfo.Service>() {}

/** What the `make*` constructors return: a store, once its directory or keychain is ready. */
type Built = Effect.Effect<TokenStore.TokenStore.Service, TokenStore.TokenStoreError, FileSystem.FileSystem>

const toLayer = (
  make: Built,
  info: Omit<StoreInfo.Service, "note"> & { readonly note?: string }
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  Layer.effectContext(
    Effect.map(make, (store) =>
      Context.make(TokenStore.TokenStore, store).pipe(
        Context.add(StoreInfo, { kind: info.kind, location: info.location, note: Option.fromNullable(info.note) })
      ))
  ).pipe(Layer.provide(NodeFileSystem.layer))

// --- the file format ----------------------------------------------------------------------------

const FileContent = Schema.Struct({ version: Schema.Literal(1), tokens: TokenSet.TokenSet })

const serialize = (tokens: TokenSet.TokenSet, space?: number) =>
  Effect.map(Schema.encode(FileContent)({ version: 1, tokens }), (content) => JSON.stringify(content, null, space)).pipe(
    Effect.orDie
  )

const lockOf = (path: string) => `${path}.lock`

/** The locking every store shares: this process's keyed lock in front of the profile's lock file. */
const makeLocking = (fs: FileSystem.FileSystem, lockPathOf: (profile: string) => string, lock: LockOptions | undefined) =>
  Effect.gen(function*() {
    const timing = yield* timingOf(lock)
    const keyed = yield* TokenStore.makeKeyedLock
    return <A, E, R>(profile: string, effect: Effect.Effect<A, E, R>) =>
      keyed(profile, withFileLock(fs, lockPathOf(profile), profile, timing, effect))
  })

/** What differs between the plain and the encrypted file store. */
interface Codec {
  readonly extension: string
  readonly encode: (profile: string, tokens: TokenSet.TokenSet) => Effect.Effect<string, TokenStore.TokenStoreError>
  readonly decode: (profile: string, path: string, text: string) => Effect.Effect<TokenSet.TokenSet, TokenStore.TokenStoreError>
}

const makeFileBacked = (directory: string, codec: Codec, options: FileOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* Files.ensureDirectory(directory, { profile: "*", private: true })
    const pathOf = (profile: string) => join(directory, `${profile}.${codec.extension}`)
    const provided = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) =>
      Effect.provideService(effect, FileSystem.FileSystem, fs)
    return TokenStore.make({
      get: (profile) =>
        provided(
          Effect.flatMap(Files.readPrivate(pathOf(profile), profile), (file) =>
            Option.isNone(file)
              ? Effect.succeedNone
              : Effect.asSome(codec.decode(profile, pathOf(profile), file.value.text)))
        ),
      set: (profile, tokens) =>
        provided(Effect.flatMap(codec.encode(profile, tokens), (text) => Files.writeAtomic(pathOf(profile), text, profile))),
      remove: (profile) => provided(Files.removeIfExists(pathOf(profile), profile)),
      withLock: yield* makeLocking(fs, (profile) => lockOf(pathOf(profile)), options.lock)
    })
  })

const plainCodec: Codec = {
  extension: "json",
  encode: (_, tokens) => Effect.map(serialize(tokens, 2), (text) => `${text}\n`),
  decode: (profile, path, text) => Effect.map(Files.decodeJson(FileContent, text, profile, path), (c) => c.tokens)
}

// --- file store ---------------------------------------------------------------------------------

/**
 * A store of one JSON file per profile in `directory`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (directory: string, options: FileOptions = {}): Built =>
  makeFileBacked(directory, plainCodec, options)

/**
 * Tokens in `directory/<profile>.json` (created 0700 if missing; refused if
 * others can access it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (
  directory: string,
  options: FileOptions = {}
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  toLayer(makeFile(directory, options), { kind: "file", location: directory })

// --- encrypted file store -----------------------------------------------------------------------

/**
 * Where the encrypted store's key comes from.
 *
 * @since 0.1.0
 * @category models
 */
export type KeySource =
  | { readonly _tag: "Value"; readonly key: Redacted.Redacted<string>; readonly name: string }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Keychain"; readonly service: string; readonly linuxStore: LinuxStore }

/**
 * A key given as a value: 32 random bytes in base64url (43 characters), e.g.
 * from `SUBAUTH_STORE_KEY`. `name` is what messages call it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyFromValue = (key: Redacted.Redacted<string>, name = "the store key"): KeySource => ({
  _tag: "Value",
  key,
  name
})

/**
 * A key in a file only its owner can read; made (0600) with a new random key
 * when it does not exist.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyFromFile = (path: string): KeySource => ({ _tag: "File", path })

/**
 * A key in the OS keychain (service `subauth`, account `.store-key`), made on
 * first use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyFromKeychain = (
  options: { readonly service?: string; readonly linuxStore?: LinuxStore } = {}
): KeySource => ({
  _tag: "Keychain",
  service: options.service ?? KEYCHAIN_SERVICE,
  linuxStore: options.linuxStore ?? "secret-service"
})

/**
 * A new random key for the encrypted store, in the form `keyFromValue` and
 * `SUBAUTH_STORE_KEY` take.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() =>
  Redacted.make(randomBytes(32).toString("base64url"))
)

/** A key's public name: part of its SHA-256, so a message can say which key a file needs. */
const keyIdOf = (key: Uint8Array) => createHash("sha256").update(key).digest("base64url").slice(0, 11)

const KEY_ACCOUNT = ".store-key"

const parseKey = (text: string, profile: string, location: string, name: string) => {
  const trimmed = text.trim()
  const bytes = /^[A-Za-z0-9_\-+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, "base64") : Buffer.alloc(0)
  return bytes.length === 32
    ? Effect.succeed(new Uint8Array(bytes))
    : Effect.fail(Files.storeError(
      "Unavailable",
      profile,
      location,
      `${name} must be 32 random bytes in base64url (43 characters); make one with: ` +
        `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`
    ))
}

const newKeyText = () => `${randomBytes(32).toString("base64url")}\n`

const resolveKey = (source: KeySource, locking: ReturnType<typeof makeLocking>) =>
  Effect.gen(function*() {
    switch (source._tag) {
      case "Value":
        return yield* parseKey(Redacted.value(source.key), "*", source.name, source.name)
      case "File": {
        const existing = yield* Files.readPrivate(source.path, "*")
        if (Option.isSome(existing)) return yield* parseKey(existing.value.text, "*", source.path, "the key file")
        // Whole or not at all; if another process made it first, its key is the key.
        if (yield* Files.createAtomic(source.path, newKeyText(), "*")) {
          yield* Effect.logInfo(`created a new token store key in ${source.path}`)
        }
        const made = yield* Files.readPrivate(source.path, "*")
        return yield* parseKey(Option.getOrElse(Option.map(made, (m) => m.text), () => ""), "*", source.path, "the key file")
      }
      case "Keychain": {
        const entry = { service: source.service, account: KEY_ACCOUNT, linuxStore: source.linuxStore }
        const withLock = yield* locking
        // Two processes starting at once must not each make (and use) their own key.
        const text = yield* withLock(
          KEY_ACCOUNT,
          Effect.gen(function*() {
            const stored = yield* Keychain.get(entry, "*")
            if (stored !== null) return stored
            const made = newKeyText().trim()
            yield* Keychain.set(entry, "*", made)
            yield* Effect.logInfo(`created a new token store key in the ${Keychain.locationOf(entry)}`)
            return made
          })
        )
        return yield* parseKey(text, "*", Keychain.locationOf(entry), "the key in the keychain")
      }
    }
  }).pipe(Effect.map((key) => ({ key, id: keyIdOf(key) })))

const decryptFailed = (profile: string, path: string, description: string, cause?: unknown) =>
  Files.storeError("DecryptFailed", profile, path, description, cause)

const encryptedCodec = (key: { readonly key: Uint8Array; readonly id: string }): Codec => ({
  extension: "jwe",
  encode: (profile, tokens) =>
    Effect.flatMap(serialize(tokens), (json) =>
      Effect.promise(() =>
        new jose.CompactEncrypt(new TextEncoder().encode(json))
          // The profile is in the authenticated header: a file copied to another profile's name is refused.
          .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: key.id, cty: "application/json", profile })
          .encrypt(key.key)
      )).pipe(Effect.map((jwe) => `${jwe}\n`)),
  decode: (profile, path, text) =>
    Effect.gen(function*() {
      const jwe = text.trim()
      const header = yield* Effect.try({
        try: () => jose.decodeProtectedHeader(jwe),
        catch: () => Files.storeError("Corrupt", profile, path, "the token file is not a JWE; it was left as it is")
      })
      if (typeof header.kid === "string" && header.kid !== key.id) {
        return yield* decryptFailed(
          profile,
          path,
          `the token file was encrypted with another key (key id ${header.kid}; the configured key's id is ${key.id}); ` +
            "configure the key it was written with, or sign in again to replace it"
        )
      }
      const { plaintext, protectedHeader } = yield* Effect.tryPromise({
        try: () =>
          jose.compactDecrypt(jwe, key.key, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] }),
        catch: (error) =>
          error instanceof jose.errors.JWEDecryptionFailed
            ? decryptFailed(profile, path, `the token file cannot be decrypted with the configured key (id ${key.id})`, error)
            : Files.storeError("Corrupt", profile, path, "the token file is not a valid JWE; it was left as it is", error)
      })
      if (protectedHeader.profile !== profile) {
        return yield* Files.storeError("Corrupt", profile, path, "the token file holds another profile's tokens")
      }
      const content = yield* Files.decodeJson(FileContent, new TextDecoder().decode(plaintext), profile, path)
      return content.tokens
    })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface EncryptedFileOptions extends FileOptions {
  readonly key: KeySource
}

/**
 * A store of one JWE file per profile in `directory`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEncryptedFile = (directory: string, options: EncryptedFileOptions): Built =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* Files.ensureDirectory(directory, { profile: "*", private: true })
    const key = yield* resolveKey(options.key, makeLocking(fs, (name) => join(directory, `${name}.lock`), options.lock))
    return yield* makeFileBacked(directory, encryptedCodec(key), options)
  })

/**
 * Tokens encrypted in `directory/<profile>.jwe` (JWE, `dir` + `A256GCM`). A
 * wrong key fails with `DecryptFailed`, naming the key ids involved.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEncryptedFile = (
  directory: string,
  options: EncryptedFileOptions
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  toLayer(makeEncryptedFile(directory, options), { kind: "encrypted-file", location: directory })

// --- keychain store -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface KeychainOptions extends FileOptions {
  /** Where the cross-process lock files go (made 0700), e.g. `~/.subauth`. */
  readonly lockDirectory: string
  /** Default `subauth`. */
  readonly service?: string
  /**
   * Linux only. Default `secret-service`; `keyutils` is the kernel keyring,
   * which forgets its content at reboot.
   */
  readonly linuxStore?: LinuxStore
}

/**
 * Checks that the OS keychain can store and return a value (by writing,
 * reading and deleting a probe entry, account `.probe`).
 *
 * @since 0.1.0
 * @category utils
 */
export const checkKeychain = (
  options: { readonly service?: string; readonly linuxStore?: LinuxStore } = {}
): Effect.Effect<void, TokenStore.TokenStoreError> =>
  Keychain.probe({
    service: options.service ?? KEYCHAIN_SERVICE,
    account: ".probe",
    linuxStore: options.linuxStore ?? "secret-service"
  })

/**
 * A store in the OS keychain: one entry per profile (service `subauth`,
 * account = profile), locked across processes with lock files in
 * `lockDirectory`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeychain = (options: KeychainOptions): Built =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* Files.ensureDirectory(options.lockDirectory, { profile: "*", private: true })
    const service = options.service ?? KEYCHAIN_SERVICE
    const entryOf = (profile: string) => ({ service, account: profile, linuxStore: options.linuxStore ?? "secret-service" })
    return TokenStore.make({
      get: (profile) =>
        Effect.flatMap(Keychain.get(entryOf(profile), profile), (text) =>
          text === null
            ? Effect.succeedNone
            : Effect.asSome(
              Effect.map(
                Files.decodeJson(FileContent, text, profile, Keychain.locationOf(entryOf(profile)), "the keychain entry"),
                (c) => c.tokens
              )
            )),
      set: (profile, tokens) => Effect.flatMap(serialize(tokens), (text) => Keychain.set(entryOf(profile), profile, text)),
      remove: (profile) => Keychain.remove(entryOf(profile), profile),
      withLock: yield* makeLocking(fs, (profile) => join(options.lockDirectory, `${profile}.keychain.lock`), options.lock)
    })
  })

/**
 * Tokens in the OS keychain. Fails to build (`Unavailable`) when the keychain
 * does not work; it never falls back to files (`layerAuto` does, and says so).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeychain = (
  options: KeychainOptions
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  keychainLayer(Effect.zipRight(checkKeychain(options), makeKeychain(options)), options)

const keychainLayer = (make: Built, options: { readonly service?: string }) =>
  toLayer(make, { kind: "keychain", location: `keychain service "${options.service ?? KEYCHAIN_SERVICE}"` })

/**
 * @since 0.1.0
 * @category models
 */
export interface AutoOptions extends FileOptions {
  /** The file store's directory, and where lock files go. */
  readonly directory: string
  readonly service?: string
  readonly linuxStore?: LinuxStore
}

/**
 * The keychain when it works, else the file store in `directory`. The choice
 * is made once, when the layer is built, logged (a warning when it falls back)
 * and readable from `StoreInfo`. Tokens do not move between the two.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuto = (
  options: AutoOptions
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  Layer.unwrapEffect(
    checkKeychain(options).pipe(
      Effect.matchEffect({
        onSuccess: () =>
          Effect.as(
            Effect.logInfo(`token store: the OS keychain (service "${options.service ?? KEYCHAIN_SERVICE}")`),
            keychainLayer(makeKeychain({ ...options, lockDirectory: options.directory }), options)
          ),
        onFailure: (error) => {
          const note = `the OS keychain is unavailable (${error.description}); tokens are stored in files under ${options.directory}`
          return Effect.as(
            Effect.logWarning(`token store: ${note}`),
            toLayer(makeFile(options.directory, options), { kind: "file", location: options.directory, note })
          )
        }
      })
    )
  )

// --- codex store --------------------------------------------------------------------------------

/**
 * The directory of a profile's `auth.json` under `codexHome`: the home itself
 * for `"default"`, `subauth-profiles/<profile>` (a Codex home of its own) for
 * any other.
 *
 * @since 0.1.0
 * @category utils
 */
export const codexHomeOf = (codexHome: string, profile: string): string =>
  profile === TokenStore.DEFAULT_PROFILE ? codexHome : join(codexHome, "subauth-profiles", profile)

/**
 * A store in the Codex CLI's `auth.json` format.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCodex = (codexHome: string, options: FileOptions = {}): Built =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const pathOf = (profile: string) => join(codexHomeOf(codexHome, profile), "auth.json")
    const provided = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) =>
      Effect.provideService(effect, FileSystem.FileSystem, fs)
    const home = (profile: string) =>
      // The CLI makes its home world-readable; only auth.json itself must be private.
      Files.ensureDirectory(codexHomeOf(codexHome, profile), { profile, private: false })
    // The previous file as JSON (to keep what it holds), or none.
    const previous = (profile: string) =>
      Effect.flatMap(Files.readPrivate(pathOf(profile), profile), (file) =>
        Option.isNone(file)
          ? Effect.succeedNone
          : Effect.asSome(Effect.try({
            try: (): unknown => JSON.parse(file.value.text),
            catch: () =>
              Files.storeError(
                "Corrupt",
                profile,
                pathOf(profile),
                "auth.json is not valid JSON; it was left as it is (fix or remove it, then sign in again)"
              )
          })))
    const locking = yield* makeLocking(fs, (profile) => `${pathOf(profile)}.subauth.lock`, options.lock)
    return TokenStore.make({
      get: (profile) =>
        provided(
          Effect.flatMap(Files.readPrivate(pathOf(profile), profile), (file) => {
            if (Option.isNone(file)) return Effect.succeedNone
            const mtime = Option.getOrElse(file.value.info.mtime, () => new Date(0))
            return CodexAuth.decode(file.value.text, DateTime.unsafeMake(mtime), profile, pathOf(profile))
          })
        ),
      set: (profile, tokens) =>
        provided(Effect.gen(function*() {
          yield* home(profile)
          const before = yield* previous(profile)
          yield* Files.writeAtomic(pathOf(profile), CodexAuth.encode(tokens, Option.getOrUndefined(before)), profile)
        })),
      remove: (profile) =>
        provided(Effect.gen(function*() {
          const before = yield* previous(profile)
          if (Option.isNone(before)) return
          const rest = CodexAuth.withoutSignIn(before.value)
          yield* Option.isSome(rest)
            ? Files.writeAtomic(pathOf(profile), rest.value, profile)
            : Files.removeIfExists(pathOf(profile), profile)
        })),
      withLock: (profile, effect) => Effect.zipRight(provided(home(profile)), locking(profile, effect))
    })
  })

/**
 * Tokens in the Codex CLI's `$CODEX_HOME/auth.json`, read and written in its
 * format: a sign-in made by `codex login` works here, and what subauth writes
 * works for `codex` (`OPENAI_API_KEY` and fields subauth does not know are
 * kept). Profile `"default"` is `codexHome/auth.json`; another profile `p` is
 * `codexHome/subauth-profiles/p/auth.json`, usable with
 * `CODEX_HOME=<codexHome>/subauth-profiles/p codex`.
 *
 * The Codex CLI does not take subauth's lock: when both refresh at once, the
 * loser's `refresh_token_reused` is recovered by re-reading this file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCodex = (
  codexHome: string,
  options: FileOptions = {}
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> =>
  toLayer(makeCodex(codexHome, options), { kind: "codex", location: join(codexHome, "auth.json") })

// --- config -------------------------------------------------------------------------------------

/**
 * The configuration `layerConfig` reads, as `Config`s. Each has a default
 * reading the environment variable named below.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions {
  /** `SUBAUTH_STORE`: `auto` (default), `file`, `encrypted-file`, `keychain` or `codex`. */
  readonly store?: Config.Config<"auto" | Kind>
  /** `SUBAUTH_HOME`: the directory of files and locks. Default `~/.subauth`. */
  readonly directory?: Config.Config<string>
  /** `CODEX_HOME`: the Codex CLI's home. Default `~/.codex`. */
  readonly codexHome?: Config.Config<string>
  /** `SUBAUTH_STORE_KEY`: the encrypted store's key (base64url, 32 bytes). */
  readonly key?: Config.Config<Redacted.Redacted<string>>
  /** `SUBAUTH_STORE_KEY_FILE`: a file holding that key. */
  readonly keyFile?: Config.Config<string>
  readonly lock?: LockOptions
}

/**
 * The defaults of `ConfigOptions`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultConfig = {
  store: Config.literal("auto", "file", "encrypted-file", "keychain", "codex")("SUBAUTH_STORE").pipe(
    Config.withDefault("auto" as const)
  ),
  directory: Config.string("SUBAUTH_HOME").pipe(Config.orElse(() => Config.sync(() => join(homedir(), ".subauth")))),
  codexHome: Config.string("CODEX_HOME").pipe(Config.orElse(() => Config.sync(() => join(homedir(), ".codex")))),
  key: Config.redacted("SUBAUTH_STORE_KEY"),
  keyFile: Config.string("SUBAUTH_STORE_KEY_FILE")
}

/**
 * A store chosen and configured through `Config`, read once when the layer is
 * built. The encrypted store's key is, in order: `key`, `keyFile`, else the
 * OS keychain.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const store = yield* (options.store ?? defaultConfig.store)
    const directory = yield* (options.directory ?? defaultConfig.directory)
    const lock = options.lock === undefined ? {} : { lock: options.lock }
    switch (store) {
      case "file":
        return layerFile(directory, lock)
      case "keychain":
        return layerKeychain({ lockDirectory: directory, ...lock })
      case "auto":
        return layerAuto({ directory, ...lock })
      case "codex":
        return layerCodex(yield* (options.codexHome ?? defaultConfig.codexHome), lock)
      case "encrypted-file": {
        const key = yield* Config.option(options.key ?? defaultConfig.key)
        const keyFile = yield* Config.option(options.keyFile ?? defaultConfig.keyFile)
        const source = Option.isSome(key)
          ? keyFromValue(key.value, "SUBAUTH_STORE_KEY")
          : Option.isSome(keyFile)
          ? keyFromFile(keyFile.value)
          : keyFromKeychain()
        return layerEncryptedFile(directory, { key: source, ...lock })
      }
    }
  }))
