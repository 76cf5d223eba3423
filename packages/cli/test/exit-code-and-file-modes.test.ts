/**
 * Two smaller breaks: a backend that refuses the token even after it was
 * renewed says "sign in again" and exits 3 (it exited 1); and the consent
 * records are 0600 in a 0700 directory whatever the umask (they followed it:
 * 0666 under `umask 000`).
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { makeRunner, tempHome } from "./support.js"

const setup = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 0 })
  const backend = yield* FakeCodexBackend.make().pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
  const home = yield* tempHome
  return { oauth, backend, home, run: makeRunner({ home, issuer: oauth.url, codexUrl: backend.baseUrl }) }
})

describe("exit code and file modes", () => {
  it.live("a token refused even after renewal: exit code 3 and what to do", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup
      assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(401, FakeCodexBackend.unauthorizedBody) })
      const ask = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(ask.code, 3, ask.stderr)
      assert.include(ask.stderr, "run \"subauth login\" to sign in again")
    }).pipe(Effect.scoped))

  it.live("consent records are 0600 in a 0700 directory, even under umask 000", () =>
    Effect.gen(function*() {
      const { home, run } = yield* setup
      const previous = process.umask(0)
      const login = yield* Effect.ensuring(
        run("login", "--device", "--accept-terms", "--store", "file"),
        Effect.sync(() => process.umask(previous))
      )
      assert.strictEqual(login.code, 0, login.stderr)
      const directory = join(home, "consent")
      assert.strictEqual(statSync(directory).mode & 0o777, 0o700)
      const files = readdirSync(directory)
      assert.deepStrictEqual(files, ["consent-default"])
      for (const file of files) assert.strictEqual(statSync(join(directory, file)).mode & 0o777, 0o600, file)
      // And it is read back: the next login does not ask again.
      const again = yield* run("status", "--store", "file", "--json")
      assert.isNotNull(JSON.parse(again.stdout).consent)
    }).pipe(Effect.scoped))
})
