/**
 * The OS keychain through `@napi-rs/keyring` (macOS Keychain, Windows
 * Credential Manager, the Secret Service on Linux), loaded on first use so
 * programs that never touch the keychain do not load a native module.
 */
import { Effect } from "effect"
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

const unavailable = (entry: Entry, profile: string, doing: string) => (cause: unknown) =>
  storeError(
    "Unavailable",
    profile,
    locationOf(entry),
    `could not ${doing} the OS keychain: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  )

const call = <A>(entry: Entry, profile: string, doing: string, f: (e: InstanceType<Keyring["AsyncEntry"]>) => Promise<A>) =>
  Effect.tryPromise({
    try: async () => {
      const { AsyncEntry } = await keyring()
      return f(new AsyncEntry(entry.service, entry.account, { linux: { store: entry.linuxStore } }))
    },
    catch: unavailable(entry, profile, doing)
  })

/** The entry's value, or null. */
export const get = (entry: Entry, profile: string) => call(entry, profile, "read from", (e) => e.getPassword())

export const set = (entry: Entry, profile: string, value: string) =>
  call(entry, profile, "write to", (e) => e.setPassword(value))

export const remove = (entry: Entry, profile: string) =>
  call(entry, profile, "delete from", (e) => e.deletePassword()).pipe(Effect.asVoid)

/** Whether the keychain works: a write, a read and a delete of a probe entry. */
export const probe = (entry: Entry) =>
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
