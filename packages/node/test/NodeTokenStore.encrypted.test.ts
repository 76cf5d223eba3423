import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import * as jose from "jose"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { encode, failure, fresh, modeOf, run, tempDir } from "./support.js"

const key = Effect.runSync(NodeTokenStore.generateKey)

TokenStoreSuite.run(
  "encrypted file",
  fresh((directory) => NodeTokenStore.layerEncryptedFile(directory, { key: NodeTokenStore.keyFromValue(key) }))
)

const { full } = TokenStoreSuite.samples

const setUp = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* tempDir
  const store = yield* NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromValue(key) })
  return { fs, directory, store, file: join(directory, "default.jwe") }
})

describe("NodeTokenStore.layerEncryptedFile", () => {
  it.live("each file is a compact JWE (dir, A256GCM), 0600, with no token in the clear", () =>
    run(Effect.gen(function*() {
      const { file, fs, store } = yield* setUp
      yield* store.set("default", full)
      const text = yield* fs.readFileString(file)
      assert.strictEqual(yield* modeOf(file), 0o600)
      const header = jose.decodeProtectedHeader(text.trim())
      assert.strictEqual(header.alg, "dir")
      assert.strictEqual(header.enc, "A256GCM")
      assert.strictEqual(header.profile, "default")
      assert.notInclude(text, "rt_FAKE")
      assert.notInclude(text, "zoë")
      // Decryptable with the key alone: the format is standard.
      const { plaintext } = yield* Effect.promise(() =>
        jose.compactDecrypt(text.trim(), Buffer.from(Redacted.value(key), "base64url"))
      )
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(plaintext)).tokens, encode(full))
    })))

  it.live("a wrong key is DecryptFailed, naming both key ids and never the key; the file is left intact", () =>
    run(Effect.gen(function*() {
      const { directory, file, fs, store } = yield* setUp
      yield* store.set("default", full)
      const before = yield* fs.readFileString(file)
      const other = yield* NodeTokenStore.generateKey
      const wrong = yield* NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromValue(other) })
      const error = yield* failure(wrong.get("default"))
      assert.strictEqual(error.reason, "DecryptFailed")
      assert.strictEqual(error.location, file)
      assert.match(error.message, /encrypted with another key \(key id [\w-]{11}; the configured key's id is [\w-]{11}\)/)
      assert.notInclude(JSON.stringify(error), Redacted.value(other))
      assert.strictEqual(yield* fs.readFileString(file), before)
    })))

  it.live("a wrong key is DecryptFailed even when the file does not say which key it needs", () =>
    run(Effect.gen(function*() {
      const { file, fs, store } = yield* setUp
      const other = Buffer.from(Redacted.value(yield* NodeTokenStore.generateKey), "base64url")
      const jwe = yield* Effect.promise(() =>
        new jose.CompactEncrypt(new TextEncoder().encode("{}"))
          .setProtectedHeader({ alg: "dir", enc: "A256GCM", profile: "default" })
          .encrypt(other)
      )
      yield* fs.writeFileString(file, jwe, { mode: 0o600 })
      assert.strictEqual((yield* failure(store.get("default"))).reason, "DecryptFailed")
    })))

  it.live("a file copied over another profile's is refused: the profile is in the authenticated header", () =>
    run(Effect.gen(function*() {
      const { directory, fs, store } = yield* setUp
      yield* store.set("work", full)
      yield* fs.copyFile(join(directory, "work.jwe"), join(directory, "default.jwe"))
      const error = yield* failure(store.get("default"))
      assert.strictEqual(error.reason, "Corrupt")
      assert.include(error.message, "another profile's tokens")
    })))

  it.live("a file that is not a JWE, or a damaged one, is Corrupt and left as it is", () =>
    run(Effect.gen(function*() {
      const { file, fs, store } = yield* setUp
      yield* store.set("default", full)
      const good = (yield* fs.readFileString(file)).trim()
      const parts = good.split(".")
      for (const text of ["not a jwe", `${parts.slice(0, 4).join(".")}`, "{}"]) {
        yield* fs.writeFileString(file, text, { mode: 0o600 })
        const error = yield* failure(store.get("default"))
        assert.strictEqual(error.reason, "Corrupt", text)
        assert.strictEqual(yield* fs.readFileString(file), text)
      }
      // A flipped ciphertext byte fails authentication: never garbage.
      const ciphertext = Buffer.from(parts[3]!, "base64url")
      ciphertext[0] = ciphertext[0]! ^ 1
      yield* fs.writeFileString(file, [...parts.slice(0, 3), ciphertext.toString("base64url"), parts[4]].join("."), { mode: 0o600 })
      assert.strictEqual((yield* failure(store.get("default"))).reason, "DecryptFailed")
    })))

  it.live("a key that is not 32 bytes is refused when the store is built, without echoing it", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      for (const value of ["short", "A".repeat(64), "not base64 at all!"]) {
        const error = yield* failure(
          NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromValue(Redacted.make(value), "SUBAUTH_STORE_KEY") })
        )
        assert.strictEqual(error.reason, "Unavailable")
        assert.include(error.message, "SUBAUTH_STORE_KEY must be 32 random bytes")
        assert.notInclude(error.message, value)
      }
    })))

  it.live("a key file is made 0600 on first use and reused; one others can read is refused", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* tempDir
      const keyFile = join(yield* tempDir, "store.key")
      const open = NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromFile(keyFile) })
      yield* (yield* open).set("default", full)
      assert.strictEqual(yield* modeOf(keyFile), 0o600)
      assert.match((yield* fs.readFileString(keyFile)).trim(), /^[\w-]{43}$/)
      // Another process (another store) reads the same key.
      assert.deepStrictEqual(encode(Option.getOrThrow(yield* (yield* open).get("default"))), encode(full))
      yield* fs.chmod(keyFile, 0o640)
      const error = yield* failure(open)
      assert.strictEqual(error.reason, "InsecurePermissions")
      assert.include(error.message, `chmod 600 '${keyFile}'`)
    })))

  it.live("stores opened at once on a key file that does not exist yet all end up with the same key", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      const keyFile = join(yield* tempDir, "store.key")
      const opened = yield* Effect.all(
        Array.from({ length: 8 }, () => NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromFile(keyFile) })),
        { concurrency: "unbounded" }
      )
      yield* opened[0]!.set("default", full)
      for (const store of opened) {
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("default"))), encode(full))
      }
    })))

  it.live("layerConfig: SUBAUTH_STORE=encrypted-file with SUBAUTH_STORE_KEY", () =>
    run(Effect.gen(function*() {
      const directory = yield* tempDir
      const config = ConfigProvider.fromMap(
        new Map([["SUBAUTH_STORE", "encrypted-file"], ["SUBAUTH_HOME", directory], ["SUBAUTH_STORE_KEY", Redacted.value(key)]])
      )
      const info = yield* NodeTokenStore.StoreInfo.pipe(
        Effect.provide(NodeTokenStore.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(config))))
      )
      assert.strictEqual(info.kind, "encrypted-file")
      assert.strictEqual(info.location, directory)
    })))
})
