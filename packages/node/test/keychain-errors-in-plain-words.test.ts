/**
 * A keychain failure is told in a person's words; the platform's own text
 * (libdbus's, the Secret Service's) stays in the error's cause and the debug
 * log. The texts below are what `@napi-rs/keyring` 2.1 throws on Linux.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, LogLevel } from "effect"
import * as Keychain from "../src/internal/keychain.js"

/** An error as `@napi-rs/keyring` makes it: each layer of the platform's text a cause of the one above. */
const napiError = (...layers: ReadonlyArray<string>): Error =>
  layers.reduceRight<Error | undefined>((cause, message) => new Error(message, { cause }), undefined)!

const noBus = napiError(
  "Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead",
  "DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead",
  "Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead"
)

describe("keychain failures", () => {
  it("are described without the platform's text", () => {
    const cases: ReadonlyArray<readonly [Error, string]> = [
      [noBus, "there is no D-Bus session bus on this login, so no Secret Service to keep tokens in"],
      [
        napiError("Platform failure: DBus error: Failed to connect to socket /nonexistent/bus: No such file or directory"),
        "the D-Bus session bus this login names (DBUS_SESSION_BUS_ADDRESS) does not answer"
      ],
      [
        napiError("Platform failure: DBus error: Address does not contain a colon"),
        "the D-Bus session bus address this login names (DBUS_SESSION_BUS_ADDRESS) is not valid"
      ],
      [
        napiError(
          "Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files"
        ),
        "no Secret Service (GNOME Keyring, KeePassXC) runs on this login's D-Bus session bus"
      ],
      [
        napiError("Couldn't access platform storage: Secret Service: unlock prompt was dismissed"),
        "the OS keychain is locked, and the prompt to unlock it was dismissed"
      ],
      [
        napiError("Couldn't access platform storage: Secret Service: no result found"),
        "could not write to the OS keychain (the platform's error is logged at debug level)"
      ]
    ]
    for (const [error, expected] of cases) {
      const description = Keychain.describeFailure(error, "write to")
      assert.include(description, expected)
      assert.notInclude(description, "DBus error")
      assert.notInclude(description, "Platform failure")
    }
  })

  it("keeps the whole platform text, causes included, for the debug log", () => {
    assert.strictEqual(
      Keychain.platformText(noBus),
      "Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead"
    )
  })

  it.effect.skipIf(process.platform !== "linux")("without a session bus on Linux, a call fails at once, saying so, and logs why at debug level", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const error = yield* Effect.flip(Keychain.get({ service: "subauth-test", account: "default", linuxStore: "secret-service" }, "default")).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.setConfigProvider(ConfigProvider.fromMap(new Map())),
          Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))
        )),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.strictEqual(error.reason, "Unavailable")
      assert.strictEqual(
        error.description,
        "the OS keychain is unavailable: there is no D-Bus session bus on this login, so no Secret Service to keep tokens in"
      )
      assert.isTrue(logs.some((line) => line.includes("no D-Bus session bus")))
    }))
})
