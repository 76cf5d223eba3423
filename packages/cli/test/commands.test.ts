/**
 * Every command in-process, against the fake issuer over loopback, with real
 * files in a temporary SUBAUTH_HOME.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { statSync } from "node:fs"
import { join } from "node:path"
import { makeRunner, tempHome, withIssuer } from "./support.js"

describe("subauth (in-process)", () => {
  it.live("login --device, status, token, logout, status: the whole round trip with a file store", () =>
    Effect.gen(function*() {
      const { run, server, home } = yield* withIssuer()
      const login = yield* run("login", "--device", "--accept-terms", "--store", "file")
      assert.strictEqual(login.code, 0, login.stderr)
      assert.include(login.stdout, "Signed in as fake.user@example.com (plus), profile default.")
      assert.include(login.stderr, "enter this one-time code")
      assert.include(login.stderr, "never share this code")
      assert.include(login.stderr, "Signing in with ChatGPT uses your ChatGPT subscription")
      assert.strictEqual(statSync(join(home, "default.json")).mode & 0o777, 0o600)
      assert.strictEqual(statSync(home).mode & 0o777, 0o700)

      const status = yield* run("status", "--json", "--store", "file")
      assert.strictEqual(status.code, 0)
      const doc = JSON.parse(status.stdout)
      assert.strictEqual(doc.signedIn, true)
      assert.strictEqual(doc.email, "fake.user@example.com")
      assert.strictEqual(doc.plan, "plus")
      assert.strictEqual(doc.claimsVerified, true)
      assert.strictEqual(doc.store.kind, "file")
      assert.strictEqual(doc.consent.how, "flag")

      const token = yield* run("token", "--store", "file")
      assert.strictEqual(token.code, 0)
      const accessToken = token.stdout.trim()
      assert.match(accessToken, /^eyJ/)
      assert.notInclude(token.stderr, accessToken)

      const refreshed = yield* run("token", "--store", "file", "--refresh", "--json")
      assert.strictEqual(refreshed.code, 0)
      assert.notStrictEqual(JSON.parse(refreshed.stdout).accessToken, accessToken)

      const logout = yield* run("logout", "--store", "file")
      assert.strictEqual(logout.code, 0)
      assert.include(logout.stdout, "revoked at the issuer")
      assert.lengthOf((yield* server.requests).filter((r) => r.endpoint === "revoke"), 1)

      const after = yield* run("status", "--store", "file")
      assert.strictEqual(after.code, 1)
      assert.include(after.stdout, "Not signed in")
      // No token value in any output of the session.
      for (const output of [login, status, refreshed, logout, after]) {
        assert.notInclude(output.stdout + output.stderr, accessToken)
      }
    }).pipe(Effect.scoped))

  it.live("non-interactive first login without --accept-terms: the documented message and exit code 2", () =>
    Effect.gen(function*() {
      const { run } = yield* withIssuer()
      const result = yield* run("login", "--device", "--store", "file")
      assert.strictEqual(result.code, 2)
      assert.include(result.stderr, "error: consent is needed before the first sign-in")
      assert.include(result.stderr, "--accept-terms")
    }).pipe(Effect.scoped))

  it.live("a dead refresh token: exit code 3 with what to do", () =>
    Effect.gen(function*() {
      const { run, server } = yield* withIssuer({ accessTokenLifetime: "1 second" })
      assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
      yield* server.inject({ endpoint: "token", fault: FakeHttp.status(401, FakeOAuthServer.errorBodies.reused) })
      const token = yield* run("token", "--store", "file", "--refresh")
      assert.strictEqual(token.code, 3)
      assert.include(token.stderr, "the refresh token was already used; run \"subauth login\" to sign in again")
    }).pipe(Effect.scoped))

  it.live("usage errors exit 2: unknown command, conflicting flags, bad --store", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const run = makeRunner({ home })
      assert.strictEqual((yield* run("bogus")).code, 2)
      const conflict = yield* run("login", "--device", "--paste")
      assert.strictEqual(conflict.code, 2)
      assert.include(conflict.stderr, "choose one of --device, --browser and --paste")
      assert.strictEqual((yield* run("status", "--store", "nowhere")).code, 2)
    }).pipe(Effect.scoped))

  it.live("--help of every command shows examples and exit codes, without colour", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const run = makeRunner({ home })
      for (const command of ["login", "logout", "status", "token", "ask", "models", "usage", "serve", "demo"]) {
        const help = yield* run(command, "--help")
        assert.strictEqual(help.code, 0)
        const text = help.stdout + help.stderr
        assert.include(text, "Examples:")
        assert.include(text, "3 sign-in required")
        assert.notMatch(text, /\x1b\[/)
        if (command === "serve") assert.include(text, "[--cors text...]", "--cors is optional")
      }
    }).pipe(Effect.scoped))

  it.live("shell completions for bash, zsh and fish", () =>
    Effect.gen(function*() {
      const run = makeRunner({ home: yield* tempHome })
      for (const shell of ["bash", "zsh", "fish"]) {
        const completions = yield* run("--completions", shell)
        assert.strictEqual(completions.code, 0)
        assert.include(completions.stdout, "subauth")
        assert.include(completions.stdout, "login")
      }
    }).pipe(Effect.scoped))

  it.live("the token command warns on a terminal that its output is a secret", () =>
    Effect.gen(function*() {
      const { server, home } = yield* withIssuer()
      const run = makeRunner({ home, issuer: server.url, stdoutIsTTY: true })
      yield* run("login", "--device", "--accept-terms", "--store", "file")
      const token = yield* run("token", "--store", "file")
      assert.include(token.stderr, "This is a secret")
    }).pipe(Effect.scoped))
})
