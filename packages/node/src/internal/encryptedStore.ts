/**
 * The encrypted file store: the file store's layout (`<profile>.jwe`), each
 * file a JWE (`dir`, `A256GCM`) under a 32-byte key from a value, a key file
 * or the OS keychain (made on first use). The profile rides in the
 * authenticated header, so a file copied to another profile's name is refused.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash, randomBytes } from "node:crypto"
import { join } from "node:path"
import type { EncryptedFileOptions, KeySource } from "../NodeTokenStore.js"
import { type Codec, makeFileBacked } from "./fileStore.js"
import * as Files from "./files.js"
import * as Keychain from "./keychain.js"
import { type Built, FileContent, type Locking, makeLocking, serialize } from "./storeBase.js"

type Jose = typeof import("jose")

// Loaded when an encrypted store is made: the other stores (and `subauth status` with them) do not evaluate it.
let joseLoaded: Promise<Jose> | undefined
const loadJose = () => (joseLoaded ??= import("jose"))

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

/** A new random key, in base64url. */
export const newKey = (): string => randomBytes(32).toString("base64url")

const newKeyText = () => `${newKey()}\n`

const resolveKey = (source: KeySource, locking: Effect.Effect<Locking>) =>
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

const encryptedCodec = (jose: Jose, key: { readonly key: Uint8Array; readonly id: string }): Codec => ({
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

/** A store of one JWE file per profile in `directory`. */
export const make = (directory: string, options: EncryptedFileOptions): Built =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* Files.ensureDirectory(directory, { profile: "*", private: true })
    const key = yield* resolveKey(options.key, makeLocking(fs, (name) => join(directory, `${name}.lock`), options.lock))
    return yield* makeFileBacked(directory, encryptedCodec(yield* Effect.promise(loadJose), key), options)
  })
