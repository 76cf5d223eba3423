import { assert, describe, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { TokenStore } from "@subauth/core"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import { Effect, Layer, Option } from "effect"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { encode, failure, fresh, modeOf, outcome, run, tempDir } from "./support.js"

TokenStoreSuite.run("file", fresh((directory) => NodeTokenStore.layerFile(directory)))

const { full, large } = TokenStoreSuite.samples

const setUp = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = join(yield* tempDir, "store")
  const store = yield* NodeTokenStore.makeFile(directory)
  return { fs, directory, store, file: join(directory, "default.json") }
})


describe("NodeTokenStore.layerFile", () => {
  it.live("makes its directory 0700 and each file 0600, holding the encoded token set", () =>
    run(Effect.gen(function*() {
      const { directory, file, fs, store } = yield* setUp
      assert.strictEqual(yield* modeOf(directory), 0o700)
      yield* store.set("default", full)
      assert.strictEqual(yield* modeOf(file), 0o600)
      const content = JSON.parse(yield* fs.readFileString(file))
      assert.deepStrictEqual(content, { version: 1, tokens: encode(full) })
      assert.deepStrictEqual(yield* fs.readDirectory(directory), ["default.json"], "no temporary or lock file is left")
    })))

  it.live("provides StoreInfo saying where the tokens are", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const info = yield* NodeTokenStore.StoreInfo.pipe(Effect.provide(NodeTokenStore.layerFile(directory)))
      assert.strictEqual(info.kind, "file")
      assert.strictEqual(info.location, directory)
    }).pipe(Effect.scoped))

  it.live("refuses a directory others can access, saying how to fix it", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* tempDir
      yield* fs.chmod(directory, 0o755)
      const error = yield* failure(NodeTokenStore.makeFile(directory))
      assert.strictEqual(error.reason, "InsecurePermissions")
      assert.strictEqual(error.location, directory)
      assert.include(error.message, `chmod 700 '${directory}'`)
      assert.strictEqual(yield* modeOf(directory), 0o755, "the mode is not changed behind the user's back")
    })))

  it.live("refuses a token file others can read, leaving it as it is", () =>
    run(Effect.gen(function*() {
      const { file, fs, store } = yield* setUp
      yield* store.set("default", full)
      yield* fs.chmod(file, 0o644)
      const before = yield* fs.readFileString(file)
      const error = yield* failure(store.get("default"))
      assert.strictEqual(error.reason, "InsecurePermissions")
      assert.strictEqual(error.location, file)
      assert.include(error.message, `chmod 600 '${file}'`)
      assert.strictEqual(yield* fs.readFileString(file), before)
      assert.strictEqual(yield* modeOf(file), 0o644)
      // Writing replaces the file with a private one.
      yield* store.set("default", full)
      assert.strictEqual(yield* modeOf(file), 0o600)
    })))

  it.live("a corrupt file is Corrupt, names the path, never echoes the content, and is left intact", () =>
    run(Effect.gen(function*() {
      const { file, fs, store } = yield* setUp
      const secret = "rt_FAKE_must_not_appear_in_errors"
      for (
        const [content, expected] of [
          [`{"version":1,"tokens":{"accessToken":"${secret}"`, "is not valid JSON"],
          [`{"version":1,"tokens":{"accessToken":"${secret}","expiresAt":42}}`, `problem at "tokens.`],
          [`{"version":2,"tokens":{}}`, `problem at "version"`],
          ["", "is not valid JSON"]
        ] as const
      ) {
        yield* fs.writeFileString(file, content, { mode: 0o600 })
        const error = yield* failure(store.get("default"))
        assert.strictEqual(error.reason, "Corrupt")
        assert.strictEqual(error.location, file)
        assert.include(error.message, expected)
        assert.notInclude(`${error.message} ${JSON.stringify(error)}`, secret)
        assert.strictEqual(yield* fs.readFileString(file), content, "the file is never deleted or rewritten")
      }
    })))

  it.live("profile names cannot escape the directory", () =>
    run(Effect.gen(function*() {
      const { directory, fs, store } = yield* setUp
      for (const profile of ["../default", "..", "a/../../b", "/etc/passwd", "x\\..\\y", "./default"]) {
        assert.strictEqual(yield* outcome(store.set(profile, full)), "InvalidProfile")
        assert.strictEqual(yield* outcome(store.withLock(profile, Effect.void)), "InvalidProfile")
      }
      assert.deepStrictEqual(yield* fs.readDirectory(directory), [])
      assert.deepStrictEqual((yield* fs.readDirectory(join(directory, ".."))).sort(), ["store"])
    })))

  it.live("a reader never sees a half-written file", () =>
    run(Effect.gen(function*() {
      const { store } = yield* setUp
      yield* store.set("default", large)
      let reads = 0
      const writer = Effect.forEach(Array.from({ length: 60 }), (_, i) => store.set("default", i % 2 === 0 ? full : large))
      const reader = Effect.forEach(Array.from({ length: 300 }), () =>
        Effect.tap(store.get("default"), (read) => Effect.sync(() => Option.isSome(read) && reads++)))
      // A failed read (Corrupt) fails the test.
      yield* Effect.all([writer, reader], { concurrency: "unbounded" })
      assert.strictEqual(reads, 300)
    })))

  it.live("a failed write is WriteFailed and leaves no temporary file behind", () =>
    run(Effect.gen(function*() {
      const { directory, file, fs, store } = yield* setUp
      // A directory where the file should go: the final rename fails, whoever runs the test.
      yield* fs.makeDirectory(file)
      const error = yield* failure(store.set("default", full))
      assert.strictEqual(error.reason, "WriteFailed")
      assert.strictEqual(error.location, file)
      assert.deepStrictEqual(yield* fs.readDirectory(directory), ["default.json"])
    })))

  it.live("layerFile fails to build, with a typed error, on a path that is not a directory", () =>
    run(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = join(yield* tempDir, "file")
      yield* fs.writeFileString(path, "")
      const exit = yield* Layer.build(NodeTokenStore.layerFile(path)).pipe(Effect.flip)
      assert.strictEqual(exit.reason, "Unavailable")
    })))

  it.live("profiles stay in their own files", () =>
    run(Effect.gen(function*() {
      const { directory, fs, store } = yield* setUp
      yield* store.set("work", full)
      yield* store.set(TokenStore.DEFAULT_PROFILE, large)
      assert.deepStrictEqual((yield* fs.readDirectory(directory)).sort(), ["default.json", "work.json"])
      assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("work"))), encode(full))
    })))
})
