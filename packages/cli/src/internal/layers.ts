/**
 * The layers commands are built from, chosen by flags and `Settings`: the CLI's
 * layer recipes. A recipe only one command uses stays in that command's module
 * (commands are loaded lazily; what is here is loaded for every command).
 *
 * So this module imports only what `subauth status` needs (the stores, the
 * consent records); the HTTP client and the backend stack are imported when
 * their layer is built (`backendLayers.ts`).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { PlatformError } from "@effect/platform/Error"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Provider from "@subauth/core/Provider"
import * as NodeTokenStore from "@subauth/node/NodeTokenStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import type * as Settings from "../Settings.js"

export type { StoreChoice } from "../commands/shared.js"
import type { StoreChoice } from "../commands/shared.js"

/**
 * `SUBAUTH_HOME`, created private (0700) before anything is put in it. A
 * synchronous call: one system call on a local directory, where node:fs/promises
 * cost `subauth status` a millisecond to load.
 */
export const ensureHome = (settings: Settings.Service) =>
  Effect.sync(() => {
    try {
      mkdirSync(settings.home, { recursive: true, mode: 0o700 })
    } catch {
      // Reported by the store that needs it, with the path and what to do.
    }
  })

/**
 * A `KeyValueStore` of private files: the directory made 0700, each value
 * written to a temporary file created 0600 and renamed into place, whatever
 * the umask (`NodeKeyValueStore.layerFileSystem` follows it: 0666 under
 * `umask 000`). Keys are file names as that store makes them.
 */
export const makePrivateFiles = (
  directory: string
): Effect.Effect<KeyValueStore.KeyValueStore, PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(directory))) yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 })
    const pathOf = (key: string) => join(directory, encodeURIComponent(key))
    const orNone = <A>(read: Effect.Effect<A, PlatformError>) =>
      read.pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeedNone)
      )
    const names = Effect.map(fs.readDirectory(directory), (all) => all.filter((name) => !name.endsWith(".tmp")))
    return KeyValueStore.make({
      get: (key) => orNone(fs.readFileString(pathOf(key))),
      getUint8Array: (key) => orNone(fs.readFile(pathOf(key))),
      set: (key, value) => {
        const temporary = `${pathOf(key)}.${randomBytes(6).toString("hex")}.tmp`
        const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value
        return fs.writeFile(temporary, bytes, { flag: "wx", mode: 0o600 }).pipe(
          Effect.zipRight(fs.rename(temporary, pathOf(key))),
          Effect.onError(() => Effect.ignore(fs.remove(temporary)))
        )
      },
      remove: (key) => Effect.asVoid(orNone(fs.remove(pathOf(key)))),
      clear: Effect.flatMap(names, (all) => Effect.forEach(all, (name) => fs.remove(join(directory, name)), { discard: true })),
      size: Effect.map(names, (all) => all.length)
    })
  })

/** {@link makePrivateFiles} as a layer. */
export const privateFiles = (directory: string): Layer.Layer<KeyValueStore.KeyValueStore, PlatformError> =>
  Layer.effect(KeyValueStore.KeyValueStore, makePrivateFiles(directory)).pipe(Layer.provide(NodeFileSystem.layer))

// Records kept in memory: when SUBAUTH_HOME cannot hold them (the consent is asked again next time).
const inMemory = Effect.sync(() => {
  const values = new Map<string, string>()
  return KeyValueStore.makeStringOnly({
    get: (key) => Effect.sync(() => Option.fromNullable(values.get(key))),
    set: (key, value) => Effect.sync(() => void values.set(key, value)),
    remove: (key) => Effect.sync(() => void values.delete(key)),
    clear: Effect.sync(() => values.clear()),
    size: Effect.sync(() => values.size)
  })
})

/** Consent records under `SUBAUTH_HOME/consent` (private files); `readOnly` creates nothing (status). */
export const makeConsentRecords = (settings: Settings.Service, options: { readonly readOnly?: boolean } = {}) =>
  Effect.gen(function*() {
    const directory = join(settings.home, "consent")
    if (options.readOnly === true && !existsSync(directory)) return yield* inMemory
    yield* ensureHome(settings)
    return yield* makePrivateFiles(directory).pipe(Effect.orElse(() => inMemory))
  })

/** {@link makeConsentRecords} as a layer. */
export const consentRecords = (settings: Settings.Service, options: { readonly readOnly?: boolean } = {}) =>
  Layer.effect(KeyValueStore.KeyValueStore, makeConsentRecords(settings, options)).pipe(Layer.provide(NodeFileSystem.layer))

const storeOptions = (choice: StoreChoice, settings: Settings.Service): NodeTokenStore.ConfigOptions => ({
  store: Config.succeed(choice === "encrypted" ? "encrypted-file" : choice),
  directory: Config.succeed(settings.home),
  codexHome: Config.succeed(settings.codexHome)
})

/** The token store chosen; each store makes its directory (`SUBAUTH_HOME`, or the Codex home) private itself. */
export const store = (choice: StoreChoice, settings: Settings.Service) => NodeTokenStore.layerConfig(storeOptions(choice, settings))

/** What {@link store} provides, as an effect (`status` and `token` build no layers: see `commands/status.ts`). */
export const makeStore = (choice: StoreChoice, settings: Settings.Service) => NodeTokenStore.makeConfig(storeOptions(choice, settings))

/** The provider's options: OpenAI's issuer, or `SUBAUTH_ISSUER`. */
export const providerOptions = (settings: Settings.Service): Provider.Options => ({
  allowInsecureHttp: settings.allowInsecureHttp,
  ...Option.match(settings.issuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) })
})

export const provider = (settings: Settings.Service) => Provider.layer(providerOptions(settings))

const backend = Effect.promise(() => import("./backendLayers.js"))

/** Node's HTTP client (node:http), loaded when the layer is built. */
export const httpClient = Layer.unwrapEffect(Effect.map(backend, (m) => m.httpClient))

/** A store, the provider and Node's HTTP client: what any token command needs. */
export const tokens = (choice: StoreChoice, settings: Settings.Service) =>
  Layer.mergeAll(store(choice, settings), provider(settings), httpClient)

/** `SubscriptionLLM` for a profile, with its token manager, store and provider: the commands that talk to the backend. */
export const llm = (args: { readonly profile: string; readonly store: StoreChoice }, settings: Settings.Service) =>
  Layer.unwrapEffect(Effect.map(backend, (m) => m.llm(args.profile, settings, store(args.store, settings), provider(settings))))
