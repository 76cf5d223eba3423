/**
 * A child process for the multi-process tests: real stores, a real
 * TokenManager over node:http, against the fake issuer the test runs. Bundled
 * from source by `support.ts` and started with `node`.
 *
 * Reports are lines `@@ <json>` on stdout; everything else there is logging.
 */
import { Provider, TokenManager, TokenStore } from "@subauth/core"
import { Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { createRequire } from "node:module"
import * as NodeTokenManager from "../../src/NodeTokenManager.js"
import * as NodeTokenStore from "../../src/NodeTokenStore.js"
import type { WorkerConfig } from "../support.js"

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig

const report = (event: string, fields: Record<string, unknown> = {}) =>
  Effect.sync(() => void process.stdout.write(`@@ ${JSON.stringify({ event, pid: process.pid, ...fields })}\n`))

const lock = { stale: config.lock.stale, update: config.lock.update, retry: 20 }

const storeLayer = config.store.kind === "codex"
  ? NodeTokenStore.layerCodex(config.store.directory, { lock })
  : NodeTokenStore.layerFile(config.store.directory, { lock })

// A store that dies (is killed) after the token response and before the write.
const stopBeforeWrite = Layer.effect(
  TokenStore.TokenStore,
  Effect.map(TokenStore.TokenStore, (store) => ({
    ...store,
    set: () => Effect.zipRight(report("writing"), Effect.never)
  }))
).pipe(Layer.provide(storeLayer))

const run = (iterations: number) =>
  Effect.gen(function*() {
    const manager = yield* TokenManager.TokenManager
    let ok = 0
    const errors: Array<string> = []
    let last: Option.Option<string> = Option.none()
    for (let i = 0; i < iterations; i++) {
      const result = yield* Effect.either(manager.get)
      if (result._tag === "Right") {
        ok += 1
        last = Option.some(Redacted.value(result.right.accessToken))
      } else {
        const error = result.left
        errors.push(`${error._tag}${"reason" in error ? `:${String(error.reason)}` : ""}`)
      }
      if (config.pauseMs > 0) yield* Effect.sleep(config.pauseMs)
    }
    yield* report("done", { ok, errors, final: Option.getOrNull(last), at: Date.now() })
  })

const manager = (store: Layer.Layer<TokenStore.TokenStore, TokenStore.TokenStoreError>) =>
  NodeTokenManager.layer({ leeway: config.leeway }).pipe(
    Layer.provide(store),
    Layer.provide(Provider.layer({ issuer: config.issuer, allowInsecureHttp: true }))
  )

const program = Effect.gen(function*() {
  switch (config.mode) {
    case "refresh":
      return yield* run(config.iterations).pipe(Effect.provide(manager(storeLayer)))
    case "die-before-write":
      return yield* run(1).pipe(Effect.provide(manager(stopBeforeWrite)))
    case "hold-lock":
      return yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        store.withLock(TokenStore.DEFAULT_PROFILE, Effect.zipRight(report("locked"), Effect.never))).pipe(
          Effect.provide(storeLayer)
        )
    case "auto":
    case "keychain":
      return yield* Effect.flatMap(NodeTokenStore.StoreInfo, (info) =>
        report("store", {
          kind: info.kind,
          location: info.location,
          note: Option.getOrNull(info.note),
          keychainUnavailable: Option.getOrNull(Option.map(info.keychainUnavailable, (e) => e.description)),
          // Whether the native keyring module was loaded (asked D-Bus) to find that out.
          keyringLoaded: Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes("@napi-rs"))
        })).pipe(
          Effect.provide(
            config.mode === "auto"
              ? NodeTokenStore.layerAuto({ directory: config.store.directory, service: "subauth-test-probe" })
              : NodeTokenStore.layerKeychain({ lockDirectory: config.store.directory, service: "subauth-test-probe" })
          ),
          Effect.catchTag("TokenStoreError", (error) => report("refused", { reason: error.reason, message: error.message }))
        )
  }
})

Effect.runPromise(
  program.pipe(
    Effect.catchAllCause((cause) => report("failed", { cause: String(cause) })),
    Logger.withMinimumLogLevel(LogLevel.Info)
  )
).then(() => process.exit(0))
