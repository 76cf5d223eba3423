import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { SecureRandom } from "@subauth/core"
import { Effect, Either, Layer, Option, Redacted } from "effect"
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ServeKey from "../src/ServeKey.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-serve-key-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const env = Layer.merge(NodeFileSystem.layer, SecureRandom.layer)

describe("ServeKey", () => {
  it.scoped("generated on first start (0600 in a 0700 directory), then reused", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "home", ServeKey.FILE_NAME)
      const first = yield* ServeKey.resolve({ given: Option.none(), file })
      assert.strictEqual(first.source, "generated")
      assert.match(Redacted.value(first.key), /^sk-subauth-[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      assert.strictEqual(statSync(join(file, "..")).mode & 0o777, 0o700)
      const second = yield* ServeKey.resolve({ given: Option.none(), file })
      assert.strictEqual(second.source, "file")
      assert.strictEqual(Redacted.value(second.key), Redacted.value(first.key))
    }).pipe(Effect.provide(env)))

  it.scoped("a given key wins and nothing is written", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, ServeKey.FILE_NAME)
      const resolved = yield* ServeKey.resolve({ given: Option.some(Redacted.make("my-key")), file })
      assert.strictEqual(resolved.source, "given")
      assert.strictEqual(Redacted.value(resolved.key), "my-key")
      assert.throws(() => statSync(file))
      const bad = yield* Effect.flip(ServeKey.resolve({ given: Option.some(Redacted.make("two words")), file }))
      assert.strictEqual(bad.reason, "InvalidKey")
      assert.notInclude(bad.message, "two words")
    }).pipe(Effect.provide(env)))

  it.scoped("servers starting at once agree on one key", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, ServeKey.FILE_NAME)
      const all = yield* Effect.all(Array.from({ length: 8 }, () => ServeKey.resolve({ given: Option.none(), file })), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(all.map((r) => Redacted.value(r.key))).size, 1)
      assert.strictEqual(all.filter((r) => r.source === "generated").length, 1)
    }).pipe(Effect.provide(env)))

  it.scoped("a key file others can read is refused, with the chmod to run; a broken one is reported", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, ServeKey.FILE_NAME)
      writeFileSync(file, "sk-subauth-shared\n", { mode: 0o600 })
      chmodSync(file, 0o644)
      const insecure = yield* Effect.flip(ServeKey.resolve({ given: Option.none(), file }))
      assert.strictEqual(insecure.reason, "KeyFileInsecure")
      assert.include(insecure.message, `chmod 600 '${file}'`)
      assert.include(insecure.message, "mode 0644")
      assert.notInclude(insecure.message, "sk-subauth-shared")
      chmodSync(file, 0o600)
      writeFileSync(file, "   \n")
      const empty = yield* Effect.flip(ServeKey.resolve({ given: Option.none(), file }))
      assert.strictEqual(empty.reason, "KeyFileFailed")
    }).pipe(Effect.provide(env)))

  it("matches compares whole keys", () => {
    const key = Redacted.make("sk-subauth-abc")
    assert.isTrue(ServeKey.matches(key, "sk-subauth-abc"))
    for (const other of ["sk-subauth-abd", "sk-subauth-ab", "sk-subauth-abcd", "", "SK-SUBAUTH-ABC"]) {
      assert.isFalse(ServeKey.matches(key, other), other)
    }
  })

  it("bearer reads the token of an Authorization header", () => {
    assert.deepStrictEqual(ServeKey.bearer("Bearer abc"), Option.some("abc"))
    assert.deepStrictEqual(ServeKey.bearer("bearer  abc "), Option.some("abc"))
    for (const header of [undefined, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "abc"]) {
      assert.isTrue(Option.isNone(ServeKey.bearer(header)), String(header))
    }
  })

  it("validate accepts visible ASCII only", () => {
    assert.isTrue(Either.isRight(ServeKey.validate(Redacted.make("sk-ok_0~!"))))
    for (const bad of ["", "a b", "tab\there", "ключ", "x".repeat(513)]) {
      assert.isTrue(Either.isLeft(ServeKey.validate(Redacted.make(bad))), bad)
    }
  })
})
