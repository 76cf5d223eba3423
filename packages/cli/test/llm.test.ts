/**
 * ask and models in-process, against the fake issuer and the fake Codex backend over loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { makeRunner, tempHome } from "./support.js"

const setup = (answer?: FakeCodexBackend.Answer) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 0 })
    const backend = yield* FakeCodexBackend.make(answer ? { respond: () => answer } : {}).pipe(
      Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth)
    )
    const home = yield* tempHome
    const options = { home, issuer: oauth.url, codexUrl: backend.baseUrl }
    const run = makeRunner(options)
    assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
    return { oauth, backend, options, run }
  })

describe("ask and models (in-process)", () => {
  it.live("ask streams the answer to stdout; --json prints text and usage", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup({ items: [FakeCodexBackend.message("Hello from the fake.", { chunks: 4 })] })
      const streamed = yield* run("ask", "--store", "file", "--system", "Be brief.", "Say hello")
      assert.strictEqual(streamed.code, 0, streamed.stderr)
      assert.strictEqual(streamed.stdout, "Hello from the fake.\n")
      const json = yield* run("ask", "--store", "file", "--json", "Say hello")
      const doc = JSON.parse(json.stdout)
      assert.strictEqual(doc.text, "Hello from the fake.")
      assert.isNumber(doc.usage.outputTokens)
      // The system prompt travelled as a developer message before the user's.
      const [first] = (yield* backend.requests).filter((r) => r.endpoint === "responses")
      const input = JSON.parse(first!.body).input as ReadonlyArray<{ role?: string }>
      assert.deepStrictEqual(input.map((i) => i.role), ["developer", "user"])
    }).pipe(Effect.scoped))

  it.live("ask reads the prompt from stdin; without one it is a usage error", () =>
    Effect.gen(function*() {
      const { options } = yield* setup()
      const piped = yield* makeRunner({ ...options, stdin: "What is PKCE?\n" })("ask", "--store", "file")
      assert.strictEqual(piped.code, 0, piped.stderr)
      assert.isAbove(piped.stdout.length, 0)
      const none = yield* makeRunner(options)("ask", "--store", "file")
      assert.strictEqual(none.code, 2)
      assert.include(none.stderr, "give a prompt")
    }).pipe(Effect.scoped))

  it.live("a usage limit: exit code 4 and the reset time", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup()
      yield* backend.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1_900_000_000, resetsInSeconds: 3600 }) })
      const result = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(result.code, 4)
      assert.include(result.stderr, "usage limit of the ChatGPT plus plan reached; it resets at 2030-03-17T17:46:40.000Z")
      assert.lengthOf((yield* backend.requests).filter((r) => r.endpoint === "responses"), 1)
    }).pipe(Effect.scoped))

  it.live("ask without signing in: exit code 3", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.make()
      const run = makeRunner({ home: yield* tempHome, issuer: oauth.url, codexUrl: "http://127.0.0.1:9/backend-api/codex" })
      const result = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(result.code, 3)
      assert.include(result.stderr, "not signed in; run \"subauth login\" to sign in")
      assert.notInclude(result.stderr, "sign in again", "there was no sign-in before")
    }).pipe(Effect.scoped))

  it.live("models lists the backend's catalog; --json", () =>
    Effect.gen(function*() {
      const { run } = yield* setup()
      const text = yield* run("models", "--store", "file")
      assert.strictEqual(text.code, 0)
      assert.include(text.stdout, "gpt-5.5")
      const json = JSON.parse((yield* run("models", "--store", "file", "--json")).stdout)
      assert.strictEqual(json.source, "backend")
      assert.isTrue(json.models.some((m: { slug: string }) => m.slug === "gpt-5.5"))
    }).pipe(Effect.scoped))
})
