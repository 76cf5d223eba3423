/**
 * The built `subauth` binary (bin/subauth.js running dist/subauth.cjs), spawned
 * as a user would, pointed at the fake servers through its environment.
 * `npm test` builds first (`pretest`).
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { binaryEnv, tempHome } from "./support.js"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))
const bundle = fileURLToPath(new URL("../dist/subauth.cjs", import.meta.url))

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const spawn = (file: string, args: ReadonlyArray<string>, env: Record<string, string>, cwd = repo) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(file, [...args], { cwd, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    child.stdin?.end()
  })

const setup = Effect.gen(function*() {
  assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 1 })
  const backend = yield* FakeCodexBackend.make({ respond: () => ({ items: [FakeCodexBackend.message("Binary says hi.")] }) }).pipe(
    Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth)
  )
  const home = yield* tempHome
  const env = binaryEnv(home, { issuer: oauth.url, codexUrl: backend.baseUrl })
  const subauth = (...args: ReadonlyArray<string>) => spawn(process.execPath, [bin, ...args], env)
  return { oauth, backend, env, subauth }
})

describe("the subauth binary", () => {
  it.live("device login, status --json, token, ask, logout, against the fake servers", () =>
    Effect.gen(function*() {
      const { oauth, subauth } = yield* setup
      const login = yield* subauth("login", "--device", "--accept-terms")
      assert.strictEqual(login.code, 0, login.stderr)
      assert.include(login.stdout, "Signed in as fake.user@example.com")
      assert.include(login.stderr, "enter this one-time code")

      const status = yield* subauth("status", "--json")
      assert.strictEqual(status.code, 0, status.stderr)
      const doc = JSON.parse(status.stdout)
      assert.deepInclude(doc, { signedIn: true, plan: "plus", claimsVerified: true })

      const token = yield* subauth("token")
      assert.strictEqual(token.code, 0)
      const value = token.stdout.trim()
      assert.match(value, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
      assert.notInclude(token.stderr, value)

      const ask = yield* subauth("ask", "Say hi")
      assert.strictEqual(ask.code, 0, ask.stderr)
      assert.strictEqual(ask.stdout, "Binary says hi.\n")

      const logout = yield* subauth("logout")
      assert.strictEqual(logout.code, 0)
      assert.lengthOf((yield* oauth.requests).filter((r) => r.endpoint === "revoke"), 1)
      assert.strictEqual((yield* subauth("status")).code, 1)
      for (const run of [login, status, ask, logout]) assert.notInclude(run.stdout + run.stderr, value)
    }).pipe(Effect.scoped), 90_000)

  it.live("non-interactive first login without --accept-terms: the documented message, exit code 2", () =>
    Effect.gen(function*() {
      const { subauth } = yield* setup
      const login = yield* subauth("login", "--device")
      assert.strictEqual(login.code, 2)
      assert.include(login.stderr, "error: consent is needed before the first sign-in and there is no terminal to ask it on")
      assert.include(login.stderr, "--accept-terms")
      assert.notMatch(login.stderr, /\n\s+at /, "no stack trace")
    }).pipe(Effect.scoped), 60_000)

  it.live("SUBAUTH_ALLOW_INSECURE_HTTP: a word that is not on or off is a usage error; no or off keeps plain http refused", () =>
    Effect.gen(function*() {
      const { env } = yield* setup
      for (const command of [["status"], ["token"], ["usage"]]) {
        const bogus = yield* spawn(process.execPath, [bin, ...command], { ...env, SUBAUTH_ALLOW_INSECURE_HTTP: "bogus" })
        assert.strictEqual(bogus.code, 2, `${command.join(" ")}: ${bogus.stderr}`)
        assert.include(bogus.stderr, "error: invalid configuration: SUBAUTH_ALLOW_INSECURE_HTTP is \"bogus\": say true or false")
        assert.notMatch(bogus.stderr, /\n\s+at /, "no stack trace")
      }
      for (const off of ["no", "off"]) {
        const login = yield* spawn(process.execPath, [bin, "login", "--device", "--accept-terms"], { ...env, SUBAUTH_ALLOW_INSECURE_HTTP: off })
        assert.strictEqual(login.code, 2, login.stderr)
        assert.include(login.stderr, "uses plain http")
      }
    }).pipe(Effect.scoped), 60_000)

  // On a login without a D-Bus session bus (a server, SSH), the auto store falls back to files. The test run starts a
  // private session bus for the keychain tests (node/test/keyring-session.ts): these processes get none.
  it.live.runIf(process.platform === "linux")(
    "the keychain fallback without a session bus, in plain words: why, where the tokens are, what to do; the platform's text only in the debug log",
    () =>
      Effect.gen(function*() {
        const { env: fileEnv } = yield* setup
        const { SUBAUTH_STORE: _, ...env } = fileEnv
        const run = (...args: ReadonlyArray<string>) => spawn(process.execPath, [bin, ...args], env)
        const platformWords = /DBus error|Platform failure|autolaunch|X11/
        const login = yield* run("login", "--device", "--accept-terms")
        assert.strictEqual(login.code, 0, login.stderr)
        assert.include(login.stderr, "note: the OS keychain is unavailable: there is no D-Bus session bus on this login")
        assert.include(login.stderr, `files only you can read (0600) in ${env.SUBAUTH_HOME}`)
        assert.include(login.stderr, "--store keychain")
        assert.include(login.stderr, "--store encrypted")
        assert.notMatch(login.stderr, platformWords)

        const status = yield* run("status")
        assert.strictEqual(status.code, 0, status.stderr)
        assert.include(status.stdout, "there is no D-Bus session bus on this login")
        assert.notMatch(status.stdout + status.stderr, platformWords)

        const keychain = yield* run("status", "--store", "keychain")
        assert.strictEqual(keychain.code, 1)
        assert.include(keychain.stderr, "error: token store: the OS keychain is unavailable: there is no D-Bus session bus on this login")
        assert.include(keychain.stderr, "hint: To keep them in the keychain")
        assert.notMatch(keychain.stderr, platformWords)

        const debug = yield* spawn(process.execPath, [bin, "status", "--store", "keychain"], { ...env, SUBAUTH_LOG: "debug" })
        assert.include(debug.stderr, "no D-Bus session bus (no DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus); D-Bus not asked")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a second start uses V8's code cache; neither start prints a warning", () =>
    Effect.gen(function*() {
      // A newcomer's environment: nothing but a home (the warning this guards against did not show with
      // the fake servers' variables set).
      const home = yield* tempHome
      const env = { HOME: home, XDG_CACHE_HOME: `${home}/cache`, SUBAUTH_HOME: `${home}/subauth` }
      const subauth = (...args: ReadonlyArray<string>) => spawn(process.execPath, [bin, ...args], env)
      const first = yield* subauth("status")
      const cached = yield* spawn("sh", ["-c", `ls "${env.XDG_CACHE_HOME}/subauth"`], env)
      assert.match(cached.stdout, /subauth-[\w-]+\.v8cache/)
      const second = yield* subauth("status")
      for (const run of [first, second]) {
        assert.strictEqual(run.code, 1)
        assert.strictEqual(run.stderr, "Run subauth login to sign in.\n")
      }
    }).pipe(Effect.scoped), 60_000)

  it.live("escape sequences from the backend reach neither the terminal nor the log lines (SUBAUTH_LOG=debug)", () =>
    Effect.gen(function*() {
      const { backend, env, subauth } = yield* setup
      assert.strictEqual((yield* subauth("login", "--device", "--accept-terms")).code, 0)
      yield* backend.inject({
        endpoint: "responses",
        fault: FakeHttp.status(400, { error: { message: "bad \x1b]0;pwned\x07\x1b[2J request", code: "x\x1b[31m" } })
      })
      const ask = yield* spawn(process.execPath, [bin, "ask", "hi"], { ...env, SUBAUTH_LOG: "debug" })
      assert.strictEqual(ask.code, 1)
      assert.include(ask.stderr, "bad ]0;pwned[2J request")
      // eslint-disable-next-line no-control-regex
      assert.notMatch(ask.stdout + ask.stderr, /[\x07\x1b]/)
    }).pipe(Effect.scoped), 60_000)

  it.live("a new build's code cache replaces the earlier builds' (the directory gained a file per build)", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const env = { HOME: home, XDG_CACHE_HOME: `${home}/cache`, SUBAUTH_HOME: `${home}/subauth` }
      const cache = `${home}/cache/subauth`
      mkdirSync(cache, { recursive: true, mode: 0o700 })
      // What earlier builds left: their caches, and a temporary of a process that crashed while writing one.
      for (const name of ["subauth-AAAAAAAAAAAAAAAA.v8cache", "subauth-BBBBBBBBBBBBBBBB.v8cache", "subauth-CCCCCCCCCCCCCCCC.v8cache.4242"]) {
        writeFileSync(`${cache}/${name}`, "old", { mode: 0o600 })
      }
      writeFileSync(`${cache}/unrelated-file`, "keep")
      assert.strictEqual((yield* spawn(process.execPath, [bin, "status"], env)).code, 1)
      const left = readdirSync(cache).sort()
      assert.lengthOf(left.filter((name) => name.endsWith(".v8cache")), 1, left.join(", "))
      assert.notInclude(left, "subauth-AAAAAAAAAAAAAAAA.v8cache")
      assert.notInclude(left, "subauth-CCCCCCCCCCCCCCCC.v8cache.4242")
      assert.include(left, "unrelated-file")
    }).pipe(Effect.scoped), 60_000)

  it.live("the bundle loads the keychain's native package from node_modules (through the launcher's import)", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const env = { HOME: home, XDG_CACHE_HOME: `${home}/cache`, SUBAUTH_HOME: `${home}/subauth`, DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS ?? "" }
      const status = yield* spawn(process.execPath, [bin, "status", "--store", "keychain"], env)
      // With a keychain (CI): not signed in, in the keychain store; without one: the keychain's own error.
      assert.strictEqual(status.code, 1, status.stderr)
      assert.match(status.stdout + status.stderr, /keychain/i)
      assert.notMatch(status.stderr, /Cannot find|ERR_|ExperimentalWarning/)
    }).pipe(Effect.scoped), 60_000)

  it.live("demo into a pipe closed early: a quiet exit 0, and its temporary home removed", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const env = { HOME: home, XDG_CACHE_HOME: `${home}/cache`, TMPDIR: home, CI: "true" }
      const run = yield* spawn("bash", ["-c", `"${process.execPath}" "${bin}" demo | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], env)
      assert.strictEqual(run.stdout.trim(), "0")
      assert.strictEqual(run.stderr, "")
      const left = yield* spawn("sh", ["-c", `ls -a "${home}"`], env)
      assert.notInclude(left.stdout, "subauth-demo-")
    }).pipe(Effect.scoped), 60_000)

  it.live("npm run demo exits 0 without a terminal", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const demo = yield* spawn("npm", ["run", "--silent", "demo"], { HOME: home, XDG_CACHE_HOME: `${home}/cache`, CI: "true" })
      assert.strictEqual(demo.code, 0, demo.stdout + demo.stderr)
      assert.include(demo.stdout, "Done in")
      assert.include(demo.stdout, "usage limit of the ChatGPT plus plan reached")
      // Then the broker's sandbox.
      assert.include(demo.stdout, "subauth broker sandbox")
      assert.include(demo.stdout, "connection.signed_out")
      assert.notInclude(demo.stdout, "rt_FAKE")
    }).pipe(Effect.scoped), 90_000)
})
