/**
 * The keychain store: one OS keychain entry per profile (the token set's JSON,
 * as the file store writes it), locked across processes with lock files in a
 * directory of its own, since a keychain has no locks.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as TokenStore from "@subauth/core/TokenStore"
import * as Effect from "effect/Effect"
import { join } from "node:path"
import type { KeychainOptions, LinuxStore } from "../NodeTokenStore.js"
import * as Files from "./files.js"
import * as Keychain from "./keychain.js"
import { type Built, FileContent, KEYCHAIN_SERVICE, makeLocking, serialize } from "./storeBase.js"

/** Whether the keychain can store and return a value: a probe entry (account `.probe`) written, read and deleted. */
export const check = (
  options: { readonly service?: string | undefined; readonly linuxStore?: LinuxStore | undefined }
): Effect.Effect<void, TokenStore.TokenStoreError> =>
  Keychain.probe({
    service: options.service ?? KEYCHAIN_SERVICE,
    account: ".probe",
    linuxStore: options.linuxStore ?? "secret-service"
  })

/** A store in the OS keychain: service `subauth`, account = profile. */
export const make = (options: KeychainOptions): Built =>
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
