import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { homedir } from "node:os"
import { join } from "node:path"
import * as NodeTokenStore from "../src/NodeTokenStore.js"
import { spawnWorker, tempDir, type WorkerConfig } from "./support.js"

const withConfig = (entries: ReadonlyArray<readonly [string, string]>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(entries)))

const infoFrom = (entries: ReadonlyArray<readonly [string, string]>) =>
  NodeTokenStore.StoreInfo.pipe(Effect.provide(NodeTokenStore.layerConfig().pipe(Layer.provide(withConfig(entries)))))

describe("NodeTokenStore.layerConfig", () => {
  it.live("SUBAUTH_STORE chooses the store; SUBAUTH_HOME and CODEX_HOME say where", () =>
    Effect.gen(function*() {
      const home = yield* tempDir
      const file = yield* infoFrom([["SUBAUTH_STORE", "file"], ["SUBAUTH_HOME", home]])
      assert.deepStrictEqual([file.kind, file.location], ["file", home])
      const codex = yield* infoFrom([["SUBAUTH_STORE", "codex"], ["SUBAUTH_HOME", home], ["CODEX_HOME", home]])
      assert.deepStrictEqual([codex.kind, codex.location], ["codex", join(home, "auth.json")])
    }).pipe(Effect.scoped))

  it.live("an unknown SUBAUTH_STORE is a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(infoFrom([["SUBAUTH_STORE", "sqlite"]]))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(String(error), "SUBAUTH_STORE")
    }))

  it.effect("the defaults are ~/.subauth, ~/.codex and the auto store", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* NodeTokenStore.defaultConfig.directory, join(homedir(), ".subauth"))
      assert.strictEqual(yield* NodeTokenStore.defaultConfig.codexHome, join(homedir(), ".codex"))
      assert.strictEqual(yield* NodeTokenStore.defaultConfig.store, "auto")
    }).pipe(Effect.provide(withConfig([]))))
})

// A machine without a keychain, for real: a process whose D-Bus session address leads nowhere.
const noKeychain = { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/subauth-test-bus" }

describe.runIf(process.platform === "linux")("without a working keychain", () => {
  const config = (mode: WorkerConfig["mode"], directory: string): WorkerConfig => ({
    mode,
    store: { kind: "file", directory },
    issuer: "http://127.0.0.1:1",
    iterations: 0,
    pauseMs: 0,
    leeway: "1 minute",
    lock: { stale: 10_000, update: 2_000 }
  })

  it.live("layerAuto falls back to the file store, and says so in a warning and in StoreInfo", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const worker = yield* spawnWorker(config("auto", directory), noKeychain)
      const report = yield* worker.next("store")
      assert.strictEqual(report.kind, "file")
      assert.strictEqual(report.location, directory)
      assert.include(String(report.note), "the OS keychain is unavailable")
      assert.include(String(report.note), "does not answer")
      assert.include(String(report.note), `tokens are kept in private files (0600) in ${directory}`)
      assert.notInclude(String(report.note), "Failed to connect", "the platform's text is not in the note")
      assert.match(worker.output(), /level=WARN .*token store: the OS keychain is unavailable/)
    }).pipe(Effect.scoped), 20_000)

  // The test run starts a private session bus for the keychain tests (keyring-session.ts): this worker gets none.
  it.live("without a session bus, layerAuto falls back at once, without loading the keyring module to ask D-Bus", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const worker = yield* spawnWorker(config("auto", directory), { DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: undefined })
      const report = yield* worker.next("store")
      assert.strictEqual(report.kind, "file")
      assert.strictEqual(
        report.keychainUnavailable,
        "the OS keychain is unavailable: there is no D-Bus session bus on this login, so no Secret Service to keep tokens in"
      )
      assert.isFalse(report.keyringLoaded, "the native keyring module was not loaded")
    }).pipe(Effect.scoped), 20_000)

  it.live("layerKeychain refuses to build (Unavailable) rather than fall back to files", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const worker = yield* spawnWorker(config("keychain", directory), noKeychain)
      const report = yield* worker.next("refused")
      assert.strictEqual(report.reason, "Unavailable")
      assert.include(String(report.message), "keychain")
    }).pipe(Effect.scoped), 20_000)
})
