/**
 * The file store: one file per profile in a private directory, replaced
 * atomically, locked with a lock file beside it. The plain store writes JSON;
 * the encrypted store (`encryptedStore.ts`) is the same store with another
 * {@link Codec}.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as TokenSet from "@subauth/core/TokenSet"
import * as TokenStore from "@subauth/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { join } from "node:path"
import type { FileOptions } from "../NodeTokenStore.js"
import * as Files from "./files.js"
import { type Built, FileContent, makeLocking, serialize } from "./storeBase.js"

/** What differs between the plain and the encrypted file store. */
export interface Codec {
  readonly extension: string
  readonly encode: (profile: string, tokens: TokenSet.TokenSet) => Effect.Effect<string, TokenStore.TokenStoreError>
  readonly decode: (profile: string, path: string, text: string) => Effect.Effect<TokenSet.TokenSet, TokenStore.TokenStoreError>
}

/** A store of one `<profile>.<codec.extension>` file per profile in `directory`. */
export const makeFileBacked = (directory: string, codec: Codec, options: FileOptions): Built =>
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
      withLock: yield* makeLocking(fs, (profile) => `${pathOf(profile)}.lock`, options.lock)
    })
  })

const plainCodec: Codec = {
  extension: "json",
  encode: (_, tokens) => Effect.map(serialize(tokens, 2), (text) => `${text}\n`),
  decode: (profile, path, text) => Effect.map(Files.decodeJson(FileContent, text, profile, path), (c) => c.tokens)
}

/** A store of one JSON file per profile in `directory`. */
export const make = (directory: string, options: FileOptions): Built => makeFileBacked(directory, plainCodec, options)
