/**
 * Errors that carry a platform's failure reach the person in plain words, with
 * what to do; the platform's own text goes to the debug log (SUBAUTH_LOG=debug).
 */
import { assert, describe, it } from "@effect/vitest"
import { TransportError } from "@subauth/core/AuthError"
import * as LoginError from "@subauth/core/LoginError"
import * as TokenStore from "@subauth/core/TokenStore"
import { Cause, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { fallbackNote, report, reportFailure } from "../src/internal/errors.js"
import * as Output from "../src/Output.js"
import * as Settings from "../src/Settings.js"

const keychainDown = new TokenStore.TokenStoreError({
  reason: "Unavailable",
  profile: "default",
  location: "keychain service \"subauth\", account \"default\"",
  description: "the OS keychain is unavailable: there is no D-Bus session bus on this login, so no Secret Service to keep tokens in",
  cause: new Error("Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead")
})

describe("error reports", () => {
  it("say system error codes in words", () => {
    const refused = report(new TransportError({ reason: "ConnectionFailed", endpoint: "token", description: "ECONNREFUSED" }))
    assert.include(refused.message, "could not reach the token endpoint (nothing answers at that address)")
    assert.notInclude(refused.message, "ECONNREFUSED")
    const port = report(new LoginError.LoginError({ reason: "PortInUse", description: "could not listen on 127.0.0.1:1455 (EACCES)" }))
    assert.strictEqual(port.message, "could not listen on 127.0.0.1:1455 (permission denied)")
    const tls = report(new TransportError({ reason: "ConnectionFailed", endpoint: "token", description: "SELF_SIGNED_CERT_IN_CHAIN" }))
    assert.include(tls.message, "the server's TLS certificate is not trusted here")
    assert.include(tls.hint ?? "", "NODE_EXTRA_CA_CERTS")
  })

  it("say what to do about a keychain that does not work", () => {
    const r = report(keychainDown, "linux")
    assert.include(r.message, "there is no D-Bus session bus on this login")
    assert.notInclude(r.message, "DBus error")
    for (const advice of ["--store keychain", "--store encrypted", "SUBAUTH_STORE_KEY_FILE", "--store file", "dbus-run-session"]) {
      assert.include(r.hint ?? "", advice)
    }
  })

  it("of the auto store's fallback: why, where the tokens went, and how to use the keychain", () => {
    const note = fallbackNote({ location: "/home/me/.subauth", keychainUnavailable: Option.some(keychainDown) }, "linux")
    assert.isTrue(Option.isSome(note))
    const text = Option.getOrThrow(note)
    assert.include(text, "there is no D-Bus session bus on this login")
    assert.include(text, "files only you can read (0600) in /home/me/.subauth")
    assert.include(text, "--store keychain")
    assert.include(text, "--store encrypted")
    assert.isTrue(Option.isNone(fallbackNote({ location: "/x", keychainUnavailable: Option.none() }, "linux")))
  })

  it.effect("leave the platform's text to the debug log", () =>
    Effect.gen(function*() {
      let stderr = ""
      const logs: Array<string> = []
      const output = Output.make({ stdout: () => {}, stderr: (t) => void (stderr += t) }, { color: false, stderrIsTTY: false })
      const settings = { platform: "linux" } as Settings.Service
      const code = yield* reportFailure(Cause.fail(keychainDown)).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(Output.Output, output),
          Layer.succeed(Settings.Settings, settings),
          Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))
        )),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.strictEqual(code, 1)
      assert.include(stderr, "error: token store: the OS keychain is unavailable")
      assert.notInclude(stderr, "DBus error")
      assert.isTrue(logs.some((line) => line.includes("autolaunch was disabled")), logs.join("\n"))
    }))
})
