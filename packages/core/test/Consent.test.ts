import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Encoding, Layer, Logger, LogLevel, Option } from "effect"
import * as Consent from "../src/Consent.js"
import * as LoginUI from "../src/LoginUI.js"

describe("Consent", () => {
  it.effect("textSha256 is the SHA-256 of the notice and the disclaimer (change both texts' hash and VERSION together)", () =>
    Effect.gen(function*() {
      const digest = yield* Effect.promise(() =>
        globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${Consent.NOTICE}\n${Consent.DISCLAIMER}`))
      )
      assert.strictEqual(yield* Consent.textSha256, Encoding.encodeBase64Url(new Uint8Array(digest)))
    }))
})

describe("the terms notice", () => {
  it("gives the addresses of OpenAI's Terms of Use and usage policies", () => {
    assert.include(Consent.NOTICE, Consent.TERMS_OF_USE_URL)
    assert.include(Consent.DISCLAIMER, Consent.TERMS_OF_USE_URL)
    assert.include(Consent.DISCLAIMER, Consent.USAGE_POLICIES_URL)
    for (const url of [Consent.TERMS_OF_USE_URL, Consent.USAGE_POLICIES_URL]) assert.match(url, /^https:\/\/openai\.com\/policies\//)
  })

  it("is paragraphs, not lines wrapped at a fixed width (a terminal wraps them to its own)", () => {
    assert.notInclude(Consent.NOTICE, "\n")
    for (const line of Consent.DISCLAIMER.split("\n")) assert.match(line, /^(Before you continue:|- \S)/, line)
  })
})

describe("a consent record that cannot be saved", () => {
  it.effect("is a warning in plain words; the platform's text goes to the debug log", () =>
    Effect.gen(function*() {
      const test = yield* LoginUI.makeTest({ answers: ["y"] })
      const failing = KeyValueStore.makeStringOnly({
        get: () => Effect.succeed(Option.none()),
        set: (key) =>
          Effect.fail(new PlatformError.SystemError({ reason: "PermissionDenied", module: "FileSystem", method: "writeFile", pathOrDescriptor: `/home/me/.subauth/consent/${key}`, description: "EACCES: permission denied" })),
        remove: () => Effect.void,
        clear: Effect.void,
        size: Effect.succeed(0)
      })
      const logs: Array<string> = []
      yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("default")).pipe(
        Effect.provide(Consent.layer.pipe(Layer.provide(Layer.mergeAll(Layer.succeed(KeyValueStore.KeyValueStore, failing), Layer.succeed(LoginUI.LoginUI, test.service))))),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      const warnings = (yield* test.events).flatMap((e) => (e._tag === "Warning" ? [e.text] : []))
      assert.deepStrictEqual(warnings, ["the consent record could not be saved (permission denied); the terms will be asked again at the next sign-in"])
      assert.isTrue(logs.some((line) => line.includes("EACCES")))
    }))
})
