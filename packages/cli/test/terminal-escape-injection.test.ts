/**
 * What servers send never reaches the terminal raw: escape sequences in the
 * backend's error messages and answers, the issuer's error descriptions,
 * model names and claims are removed before the CLI prints them (text
 * output), and escaped in `--json` output.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import * as Output from "../src/Output.js"
import { makeRunner, tempHome } from "./support.js"

// A window title change, a screen clear, a BEL, a one-character CSI (C1) and a bidi override.
const EVIL = "\x1b]0;pwned\x07\x1b[2J\u009b31m\u202e"
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

const noEscapes = (run: { readonly stdout: string; readonly stderr: string }, what: string) => {
  assert.notMatch(run.stdout, RAW, `${what} (stdout): ${JSON.stringify(run.stdout)}`)
  assert.notMatch(run.stderr, RAW, `${what} (stderr): ${JSON.stringify(run.stderr)}`)
}

const setup = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 0, account: { email: `evil${EVIL}@example.com`, planType: `plus${EVIL}` } })
  const backend = yield* FakeCodexBackend.make({
    respond: () => ({ items: [FakeCodexBackend.message(`an answer${EVIL} with escapes\r\n`)] }),
    models: [{ slug: "gpt-5.5", display_name: `GPT${EVIL}`, context_window: 400000 }]
  }).pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
  const home = yield* tempHome
  const run = makeRunner({ home, issuer: oauth.url, codexUrl: backend.baseUrl })
  return { oauth, backend, run }
})

describe("terminal escape injection (CLI)", () => {
  it("Output.terminalSafe keeps text and SGR styles, and removes the rest", () => {
    assert.strictEqual(Output.terminalSafe(`a\x1b[1mbold\x1b[22m${EVIL}\r\nz\tq`), "a\x1b[1mbold\x1b[22m]0;pwned[2J31m\nz\tq")
  })

  it.live("login, status, models and ask print claims, names, answers and errors without escape sequences", () =>
    Effect.gen(function*() {
      const { backend, oauth, run } = yield* setup
      const login = yield* run("login", "--device", "--accept-terms", "--store", "file")
      assert.strictEqual(login.code, 0, login.stderr)
      assert.include(login.stdout, "Signed in as evil]0;pwned[2J31m@example.com")
      noEscapes(login, "login")
      noEscapes(yield* run("status", "--store", "file"), "status")
      const json = yield* run("status", "--store", "file", "--json")
      noEscapes(json, "status --json")
      assert.strictEqual(JSON.parse(json.stdout).email, `evil${EVIL}@example.com`, "--json keeps the value, escaped")

      const models = yield* run("models", "--store", "file")
      assert.strictEqual(models.code, 0, models.stderr)
      assert.include(models.stdout, "GPT]0;pwned[2J31m")
      noEscapes(models, "models")

      const ask = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(ask.code, 0, ask.stderr)
      assert.strictEqual(ask.stdout, "an answer]0;pwned[2J31m with escapes\n")

      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(400, { error: { message: `bad${EVIL}`, code: `x${EVIL}` } }) })
      const failed = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(failed.code, 1)
      assert.include(failed.stderr, "bad]0;pwned")
      noEscapes(failed, "a backend error")

      yield* oauth.inject({ endpoint: "token", fault: FakeHttp.status(400, { error: `invalid_request${EVIL}`, error_description: `no${EVIL}` }) })
      const refresh = yield* run("token", "--store", "file", "--refresh")
      assert.strictEqual(refresh.code, 1)
      assert.include(refresh.stderr, "no]0;pwned")
      noEscapes(refresh, "an issuer error")
    }).pipe(Effect.scoped))

  it.live("usage and status print the backend's plan, limit names and balance without escape sequences", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup
      assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
      yield* backend.setUsage({
        primary: { usedPercent: 95, windowMinutes: 300 },
        plan: `pro${EVIL}`,
        credits: { hasCredits: true, unlimited: false, balance: `5.39${EVIL}` },
        others: [{ id: "codex_other", name: `Spark${EVIL}`, primary: { usedPercent: 96, windowMinutes: 300 } }]
      })
      const usage = yield* run("usage", "--store", "file")
      assert.strictEqual(usage.code, 0, usage.stderr)
      assert.include(usage.stdout, "Spark]0;pwned[2J31m 5-hour window: 96 % used")
      assert.include(usage.stdout, "Plan: pro]0;pwned[2J31m")
      noEscapes(usage, "usage")
      noEscapes(yield* run("usage", "--store", "file", "--json"), "usage --json")
      noEscapes(yield* run("status", "--store", "file"), "status with the limits usage saw")
    }).pipe(Effect.scoped))
})
