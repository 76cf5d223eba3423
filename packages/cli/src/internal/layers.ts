/**
 * The layers commands are built from, chosen by flags and `Settings`.
 */
import { KeyValueStore } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeKeyValueStore from "@effect/platform-node/NodeKeyValueStore"
import { Provider } from "@subauth/core"
import { NodeTokenStore } from "@subauth/node"
import { Config, Effect, Layer, Option } from "effect"
import { existsSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import type * as Settings from "../Settings.js"

export type { StoreChoice } from "../commands/shared.js"
import type { StoreChoice } from "../commands/shared.js"

/** `SUBAUTH_HOME`, created private (0700) before anything is put in it. */
export const ensureHome = (settings: Settings.Service) =>
  Effect.tryPromise(() => mkdir(settings.home, { recursive: true, mode: 0o700 })).pipe(Effect.ignore)

/** Consent records under `SUBAUTH_HOME/consent`; `readOnly` creates nothing (status). */
export const consentRecords = (settings: Settings.Service, options: { readonly readOnly?: boolean } = {}) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const directory = join(settings.home, "consent")
    if (options.readOnly === true && !existsSync(directory)) return KeyValueStore.layerMemory
    yield* ensureHome(settings)
    return NodeKeyValueStore.layerFileSystem(directory).pipe(Layer.orElse(() => KeyValueStore.layerMemory))
  }))

export const store = (choice: StoreChoice, settings: Settings.Service) =>
  Layer.unwrapEffect(Effect.as(
    ensureHome(settings),
    NodeTokenStore.layerConfig({
      store: Config.succeed(choice === "encrypted" ? "encrypted-file" : choice),
      directory: Config.succeed(settings.home),
      codexHome: Config.succeed(settings.codexHome)
    })
  ))

export const provider = (settings: Settings.Service) =>
  Provider.layer({
    allowInsecureHttp: settings.allowInsecureHttp,
    ...Option.match(settings.issuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) })
  })

/** A store, the provider and Node's HTTP client: what any token command needs. */
export const tokens = (choice: StoreChoice, settings: Settings.Service) =>
  Layer.mergeAll(store(choice, settings), provider(settings), NodeHttpClient.layer)
