/**
 * The OS keychain through `@napi-rs/keyring` (macOS Keychain, Windows
 * Credential Manager, the Secret Service on Linux), loaded on first use so
 * programs that never touch the keychain do not load a native module.
 *
 * Failures are told in a person's words (no session bus, no Secret Service,
 * a locked keyring); the platform's own text is logged at debug level and
 * kept as the error's `cause`, never put in its message.
 */
import type * as TokenStore from "@subauth/core/TokenStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { statSync } from "node:fs"
import { join } from "node:path"
import type { LinuxStore } from "../NodeTokenStore.js"
import { storeError } from "./files.js"

type Keyring = typeof import("@napi-rs/keyring")

export interface Entry {
  readonly service: string
  readonly account: string
  readonly linuxStore: LinuxStore
}

let loaded: Promise<Keyring> | undefined
const keyring = () => (loaded ??= import("@napi-rs/keyring"))

/** Where an entry is, for messages. */
export const locationOf = (entry: Entry) => `keychain service "${entry.service}", account "${entry.account}"`

/** The platform's text of a failure, its causes included (for the debug log and for {@link describeFailure}). */
export const platformText = (cause: unknown): string => {
  const parts: Array<string> = []
  for (let c = cause, depth = 0; c !== undefined && c !== null && depth < 4; depth++) {
    const text = c instanceof Error ? c.message : String(c)
    if (!parts.some((part) => part.includes(text))) parts.push(text)
    c = c instanceof Error ? c.cause : undefined
  }
  return parts.join(": ")
}

/** The keychain is not there at all: no session bus, no Secret Service on it, or a bus that does not answer. */
export const NO_KEYCHAIN = "the OS keychain is unavailable"

const NO_SESSION_BUS = `${NO_KEYCHAIN}: there is no D-Bus session bus on this login, so no Secret Service to keep tokens in`

/**
 * What a keychain failure means, in a person's words, from the platform's
 * text: `@napi-rs/keyring` has no error codes beyond `GenericFailure`. The
 * texts matched are libdbus's and the Secret Service's (Linux) and the
 * Security framework's (macOS).
 */
export const describeFailure = (cause: unknown, doing: string): string => {
  const text = platformText(cause)
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch/i.test(text)) return NO_SESSION_BUS
  if (/org\.freedesktop\.secrets|ServiceUnknown|not provided by any \.service files/i.test(text)) {
    return `${NO_KEYCHAIN}: no Secret Service (GNOME Keyring, KeePassXC) runs on this login's D-Bus session bus`
  }
  if (/Address does not contain a colon|Unknown address type|Bad address/i.test(text)) {
    return `${NO_KEYCHAIN}: the D-Bus session bus address this login names (DBUS_SESSION_BUS_ADDRESS) is not valid`
  }
  if (/Failed to connect to socket|Connection refused|NoServer|Could not connect/i.test(text)) {
    return `${NO_KEYCHAIN}: the D-Bus session bus this login names (DBUS_SESSION_BUS_ADDRESS) does not answer`
  }
  if (/dismissed/i.test(text)) return "the OS keychain is locked, and the prompt to unlock it was dismissed"
  if (/locked|interaction is not allowed/i.test(text)) return "the OS keychain is locked"
  return `could not ${doing} the OS keychain (the platform's error is logged at debug level)`
}

/**
 * Linux: libdbus finds the session bus in `DBUS_SESSION_BUS_ADDRESS`, else at
 * `$XDG_RUNTIME_DIR/bus` (a systemd user session); the keyring library's build
 * of it cannot autolaunch one (X11 autolaunch is compiled out). With neither,
 * every keychain call fails, after loading a native module and asking D-Bus:
 * about 20 ms of a `subauth status` with the `auto` store, for an answer known
 * in advance.
 */
const sessionBusMissing: Effect.Effect<boolean> = Effect.gen(function*() {
  const address = yield* Config.option(Config.nonEmptyString("DBUS_SESSION_BUS_ADDRESS"))
  if (Option.isSome(address)) return false
  const runtimeDir = yield* Config.option(Config.nonEmptyString("XDG_RUNTIME_DIR"))
  if (Option.isNone(runtimeDir)) return true
  const bus = join(runtimeDir.value, "bus")
  return !(yield* Effect.try(() => statSync(bus).isSocket()).pipe(Effect.orElseSucceed(() => false)))
}).pipe(Effect.orElseSucceed(() => false))

const unavailable = (entry: Entry, profile: string, doing: string) => (cause: unknown) =>
  storeError("Unavailable", profile, locationOf(entry), describeFailure(cause, doing), cause)

const call = <A>(entry: Entry, profile: string, doing: string, f: (e: InstanceType<Keyring["AsyncEntry"]>) => Promise<A>) =>
  Effect.gen(function*() {
    if (process.platform === "linux" && entry.linuxStore === "secret-service" && (yield* sessionBusMissing)) {
      yield* Effect.logDebug("keychain: no D-Bus session bus (no DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus); D-Bus not asked")
      return yield* storeError("Unavailable", profile, locationOf(entry), NO_SESSION_BUS)
    }
    return yield* Effect.tryPromise({
      try: async () => {
        const { AsyncEntry } = await keyring()
        return f(new AsyncEntry(entry.service, entry.account, { linux: { store: entry.linuxStore } }))
      },
      catch: unavailable(entry, profile, doing)
    }).pipe(
      Effect.tapError((error) =>
        Effect.logDebug(`keychain: could not ${doing} ${locationOf(entry)}: ${platformText(error.cause)}`)
      )
    )
  })

/** The entry's value, or null. */
export const get = (entry: Entry, profile: string) => call(entry, profile, "read from", (e) => e.getPassword())

export const set = (entry: Entry, profile: string, value: string) =>
  call(entry, profile, "write to", (e) => e.setPassword(value))

export const remove = (entry: Entry, profile: string) =>
  call(entry, profile, "delete from", (e) => e.deletePassword()).pipe(Effect.asVoid)

/** Whether the keychain works: a write, a read and a delete of a probe entry. */
export const probe = (entry: Entry): Effect.Effect<void, TokenStore.TokenStoreError> =>
  Effect.gen(function*() {
    const value = `probe-${process.pid}`
    yield* set(entry, entry.account, value)
    const read = yield* get(entry, entry.account)
    yield* remove(entry, entry.account)
    if (read !== value) {
      return yield* storeError("Unavailable", entry.account, locationOf(entry), "the OS keychain did not return what was written to it")
    }
  })

/** The accounts stored under a service (used by tests to clean up). */
export const accounts = (service: string) =>
  Effect.tryPromise({
    try: async () => (await (await keyring()).findCredentialsAsync(service)).map((c) => c.account),
    catch: unavailable({ service, account: "*", linuxStore: "secret-service" }, "*", "list")
  })
