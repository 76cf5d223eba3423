/**
 * On a login without a D-Bus session bus (a server, SSH), the `auto` store
 * falls back to files. The built binary says so in a person's words, where the
 * tokens went and how to use the keychain instead, and never the platform's
 * own error; that goes to SUBAUTH_LOG=debug. The test run starts a private
 * session bus for the keychain tests (node/test/keyring-session.ts): these
 * processes get none.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { tempHome } from "./support.js"

const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))

const subauth = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    // Only these variables: no DBUS_SESSION_BUS_ADDRESS, no XDG_RUNTIME_DIR.
    const child = execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })))
    child.stdin?.end()
  })

const platformWords = /DBus error|Platform failure|autolaunch|X11/

describe.runIf(process.platform === "linux")("the keychain fallback, without a session bus", () => {
  it.live("login and status say why the keychain was not used, where the tokens are, and what to do", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 1 })
      const home = yield* tempHome
      const env = {
        HOME: home,
        XDG_CACHE_HOME: `${home}/cache`,
        SUBAUTH_HOME: `${home}/subauth`,
        SUBAUTH_ISSUER: oauth.url,
        SUBAUTH_ALLOW_INSECURE_HTTP: "1",
        CI: "true"
      }
      const login = yield* subauth(["login", "--device", "--accept-terms"], env)
      assert.strictEqual(login.code, 0, login.stderr)
      assert.include(login.stderr, "note: the OS keychain is unavailable: there is no D-Bus session bus on this login")
      assert.include(login.stderr, `files only you can read (0600) in ${home}/subauth`)
      assert.include(login.stderr, "--store keychain")
      assert.include(login.stderr, "--store encrypted")
      assert.notMatch(login.stderr, platformWords)

      const status = yield* subauth(["status"], env)
      assert.strictEqual(status.code, 0, status.stderr)
      assert.include(status.stdout, "there is no D-Bus session bus on this login")
      assert.notMatch(status.stdout + status.stderr, platformWords)

      const keychain = yield* subauth(["status", "--store", "keychain"], env)
      assert.strictEqual(keychain.code, 1)
      assert.include(keychain.stderr, "error: token store: the OS keychain is unavailable: there is no D-Bus session bus on this login")
      assert.include(keychain.stderr, "hint: To keep them in the keychain")
      assert.notMatch(keychain.stderr, platformWords)

      const debug = yield* subauth(["status", "--store", "keychain"], { ...env, SUBAUTH_LOG: "debug" })
      assert.include(debug.stderr, "no D-Bus session bus (no DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus); D-Bus not asked")
    }).pipe(Effect.scoped), 60_000)
})
