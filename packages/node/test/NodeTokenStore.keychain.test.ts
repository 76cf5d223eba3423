/**
 * The keychain store against the real OS keychain: on Linux the Secret
 * Service, which needs a D-Bus session and an unlocked keyring (the tests
 * start both where gnome-keyring is installed: keyring-session.ts). In CI an
 * unavailable keychain fails this file; elsewhere it is skipped, saying why.
 * Every test uses its own service name and deletes its entries afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import { Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import * as Keychain from "../src/internal/keychain.js"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { encode, failure, run, tempDir } from "./support.js"

/** A service name of its own, whose entries are deleted with the scope. */
const testService = Effect.acquireRelease(
  Effect.sync(() => `subauth-test-${randomBytes(4).toString("hex")}`),
  (service) =>
    Keychain.accounts(service).pipe(
      Effect.flatMap((accounts) =>
        Effect.forEach(accounts, (account) => Keychain.remove({ service, account, linuxStore: "secret-service" }, account))
      ),
      Effect.ignore
    )
)

const entry = (service: string, account: string) => ({ service, account, linuxStore: "secret-service" as const })

const available = await Effect.runPromise(Effect.either(NodeTokenStore.checkKeychain({ service: "subauth-test-probe" })))

if (available._tag === "Left") {
  const why = `the OS keychain is not available here (${available.left.description})`
  if (process.env.CI === "true") {
    describe("NodeTokenStore.layerKeychain", () => {
      it("runs against the real keychain in CI", () => {
        assert.fail(`${why}; install gnome-keyring and dbus (the tests then start a private keyring), as .ci/run does`)
      })
    })
  } else {
    console.warn(`keychain tests skipped: ${why}`)
    describe.skip(`NodeTokenStore.layerKeychain: skipped, ${why}; install gnome-keyring and dbus to run it`, () => {
      it("contract and keychain tests", () => {})
    })
  }
} else {
  TokenStoreSuite.run(
    "keychain (real Secret Service)",
    Layer.unwrapScoped(Effect.gen(function*() {
      const service = yield* testService
      return NodeTokenStore.layerKeychain({ service, lockDirectory: yield* tempDir })
    }))
  )

  describe("NodeTokenStore.layerKeychain", () => {
    it.live("tokens are one entry per profile under the service, as the file store's JSON", () =>
      run(Effect.gen(function*() {
        const service = yield* testService
        const store = yield* NodeTokenStore.makeKeychain({ service, lockDirectory: yield* tempDir })
        yield* store.set("work", TokenStoreSuite.samples.full)
        const stored = yield* Keychain.get(entry(service, "work"), "work")
        assert.deepStrictEqual(JSON.parse(stored!), { version: 1, tokens: encode(TokenStoreSuite.samples.full) })
        assert.deepStrictEqual(yield* Keychain.accounts(service), ["work"])
      })))

    it.live("an entry that does not hold tokens is Corrupt, names the entry, and is left as it is", () =>
      run(Effect.gen(function*() {
        const service = yield* testService
        const store = yield* NodeTokenStore.makeKeychain({ service, lockDirectory: yield* tempDir })
        yield* Keychain.set(entry(service, "default"), "default", "rt_FAKE_not_json")
        const error = yield* failure(store.get("default"))
        assert.strictEqual(error.reason, "Corrupt")
        assert.strictEqual(error.location, `keychain service "${service}", account "default"`)
        assert.notInclude(error.message, "rt_FAKE")
        assert.strictEqual(yield* Keychain.get(entry(service, "default"), "default"), "rt_FAKE_not_json")
      })))

    it.live("layerAuto picks the keychain when it works, and says so", () =>
      run(Effect.gen(function*() {
        const service = yield* testService
        const info = yield* NodeTokenStore.StoreInfo.pipe(
          Effect.provide(NodeTokenStore.layerAuto({ service, directory: yield* tempDir }))
        )
        assert.strictEqual(info.kind, "keychain")
        assert.isTrue(Option.isNone(info.note))
      })))

    it.live("the encrypted store's key, from the keychain: made on first use, the same one afterwards", () =>
      run(Effect.gen(function*() {
        const service = yield* testService
        const directory = yield* tempDir
        const open = NodeTokenStore.makeEncryptedFile(directory, { key: NodeTokenStore.keyFromKeychain({ service }) })
        yield* (yield* open).set("default", TokenStoreSuite.samples.full)
        assert.deepStrictEqual(yield* Keychain.accounts(service), [".store-key"])
        const again = yield* open
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* again.get("default"))), encode(TokenStoreSuite.samples.full))
      })))
  })
}
