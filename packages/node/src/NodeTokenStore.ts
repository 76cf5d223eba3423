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
 * This module is the stores' public face (options, layers, `layerAuto`,
 * `layerConfig`); each store is a module of its own in `internal/`
 * (`fileStore`, `encryptedStore`, `keychainStore`, `codexStore`), on what they
 * share (`storeBase`: the file format and the locking).
 *
 * @see protocol.md §3.5, §4.2
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as TokenStore from "@subauth/core/TokenStore"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { homedir } from "node:os"
import { join } from "node:path"
import * as EncryptedStore from "./internal/encryptedStore.js"
import * as FileStore from "./internal/fileStore.js"
import * as KeychainStore from "./internal/keychainStore.js"
import * as Base from "./internal/storeBase.js"

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
 * How long a lock may go without its holder's heartbeat before it is taken
 * over (the default of `lock.stale`).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_STALE: Duration.Duration = Base.DEFAULT_STALE

/**
 * The keychain service every subauth entry lives under.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEYCHAIN_SERVICE = Base.KEYCHAIN_SERVICE

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
    /**
     * `layerAuto` only: why the keychain was not used (an `Unavailable` error
     * whose description says it in a person's words; the platform's own text
     * is its `cause`), for a program to say what to do about it.
     */
    readonly keychainUnavailable: Option.Option<TokenStore.TokenStoreError>
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

/**
 * What the `make*` constructors return: a store, once its directory or
 * keychain is ready.
 *
 * @since 0.1.0
 * @category models
 */
export type Built = Base.Built

// What a store's layer provides, as an effect: every layer here is one `Layer.effectContext` of these (nesting
// layers, one per choice, cost a command-line tool's start a millisecond each).
type Provided = Effect.Effect<Context.Context<TokenStore.TokenStore | StoreInfo>, TokenStore.TokenStoreError, FileSystem.FileSystem>

const provided = (
  make: Built,
  info: Pick<StoreInfo.Service, "kind" | "location"> & {
    readonly note?: string
    readonly keychainUnavailable?: TokenStore.TokenStoreError
  }
): Provided =>
  Effect.map(make, (store) =>
    Context.make(TokenStore.TokenStore, store).pipe(
      Context.add(StoreInfo, {
        kind: info.kind,
        location: info.location,
        note: Option.fromNullable(info.note),
        keychainUnavailable: Option.fromNullable(info.keychainUnavailable)
      })
    ))

const toLayer = <E>(
  effect: Effect.Effect<Context.Context<TokenStore.TokenStore | StoreInfo>, E, FileSystem.FileSystem>
): Layer.Layer<TokenStore.TokenStore | StoreInfo, E> => Layer.effectContext(effect).pipe(Layer.provide(NodeFileSystem.layer))

// --- file store ---------------------------------------------------------------------------------

/**
 * A store of one JSON file per profile in `directory`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (directory: string, options: FileOptions = {}): Built => FileStore.make(directory, options)

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
  toLayer(provided(makeFile(directory, options), { kind: "file", location: directory }))

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
export const generateKey: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() => Redacted.make(EncryptedStore.newKey()))

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
  EncryptedStore.make(directory, options)

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
  toLayer(provided(makeEncryptedFile(directory, options), { kind: "encrypted-file", location: directory }))

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
): Effect.Effect<void, TokenStore.TokenStoreError> => KeychainStore.check(options)

/**
 * A store in the OS keychain: one entry per profile (service `subauth`,
 * account = profile), locked across processes with lock files in
 * `lockDirectory`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeychain = (options: KeychainOptions): Built => KeychainStore.make(options)

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
  toLayer(providedKeychain(options))

const providedKeychain = (options: KeychainOptions): Provided =>
  provided(Effect.zipRight(checkKeychain(options), makeKeychain(options)), {
    kind: "keychain",
    location: `keychain service "${options.service ?? KEYCHAIN_SERVICE}"`
  })

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
 * and readable from `StoreInfo` (`keychainUnavailable` says why). Tokens do
 * not move between the two. On Linux without a D-Bus session bus (no
 * `DBUS_SESSION_BUS_ADDRESS`, no `$XDG_RUNTIME_DIR/bus`) the keychain is
 * known to be unavailable without loading the native module or asking D-Bus.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuto = (
  options: AutoOptions
): Layer.Layer<TokenStore.TokenStore | StoreInfo, TokenStore.TokenStoreError> => toLayer(providedAuto(options))

const providedAuto = (options: AutoOptions): Provided =>
  checkKeychain(options).pipe(
    Effect.matchEffect({
      onSuccess: () =>
        Effect.zipRight(
          Effect.logInfo(`token store: the OS keychain (service "${options.service ?? KEYCHAIN_SERVICE}")`),
          provided(makeKeychain({ ...options, lockDirectory: options.directory }), {
            kind: "keychain",
            location: `keychain service "${options.service ?? KEYCHAIN_SERVICE}"`
          })
        ),
      onFailure: (error) => {
        const note = `${error.description}; tokens are kept in private files (0600) in ${options.directory}`
        return Effect.zipRight(
          Effect.logWarning(`token store: ${note}`),
          provided(makeFile(options.directory, options), {
            kind: "file",
            location: options.directory,
            note,
            keychainUnavailable: error
          })
        )
      }
    })
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
export const codexHomeOf = (codexHome: string, profile: string): string => Base.codexHomeOf(codexHome, profile)

/**
 * A store in the Codex CLI's `auth.json` format.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCodex = (codexHome: string, options: FileOptions = {}): Built =>
  // Loaded when made: its schemas of the Codex CLI's auth.json cost the other stores' users (`subauth status`) 1 ms.
  Effect.flatMap(Effect.promise(() => import("./internal/codexStore.js")), (CodexStore) => CodexStore.make(codexHome, options))

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
  toLayer(providedCodex(codexHome, options))

const providedCodex = (codexHome: string, options: FileOptions = {}): Provided =>
  provided(makeCodex(codexHome, options), { kind: "codex", location: join(codexHome, "auth.json") })

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
  toLayer(makeConfig(options))

/**
 * What {@link layerConfig} provides, as an effect: for a program that provides
 * its services without building layers (a command-line tool's start, where
 * each layer costs about a millisecond).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (
  options: ConfigOptions = {}
): Effect.Effect<
  Context.Context<TokenStore.TokenStore | StoreInfo>,
  TokenStore.TokenStoreError | ConfigError.ConfigError,
  FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const store = yield* (options.store ?? defaultConfig.store)
    const directory = yield* (options.directory ?? defaultConfig.directory)
    const lock = options.lock === undefined ? {} : { lock: options.lock }
    switch (store) {
      case "file":
        return yield* provided(makeFile(directory, lock), { kind: "file", location: directory })
      case "keychain":
        return yield* providedKeychain({ lockDirectory: directory, ...lock })
      case "auto":
        return yield* providedAuto({ directory, ...lock })
      case "codex":
        return yield* providedCodex(yield* (options.codexHome ?? defaultConfig.codexHome), lock)
      case "encrypted-file": {
        const key = yield* Config.option(options.key ?? defaultConfig.key)
        const keyFile = yield* Config.option(options.keyFile ?? defaultConfig.keyFile)
        const source = Option.isSome(key)
          ? keyFromValue(key.value, "SUBAUTH_STORE_KEY")
          : Option.isSome(keyFile)
          ? keyFromFile(keyFile.value)
          : keyFromKeychain()
        return yield* provided(makeEncryptedFile(directory, { key: source, ...lock }), { kind: "encrypted-file", location: directory })
      }
    }
  })
