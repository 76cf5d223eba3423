/**
 * `subauth serve` in-process: signed in through the real `login` command
 * against the fake issuer, serving the official `openai` client from the fake
 * Codex backend over loopback, stopped by interruption (what SIGINT does).
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Fiber, Option, Redacted } from "effect"
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import OpenAI from "openai"
import type * as Serve from "../src/commands/serve.js"
import { args, listening, serve, signedIn } from "./serve-support.js"
import { tempHome } from "./support.js"

describe("subauth serve", () => {
  it.live("prints where it listens, the generated key once and an example; serves OpenAI clients; stops on interruption", () =>
    Effect.gen(function*() {
      const { oauth, backend, home } = yield* signedIn
      const urls = { issuer: oauth.url, codexUrl: backend.baseUrl }
      const first = yield* serve(home, urls, args())
      const base = yield* listening(first.captured)
      const key = /API key: (sk-subauth-\S+)/.exec(first.captured.stdout)![1]!
      const keyFile = join(home, "serve-key")
      assert.strictEqual(readFileSync(keyFile, "utf8").trim(), key)
      assert.strictEqual(statSync(keyFile).mode & 0o777, 0o600)
      assert.include(first.captured.stdout, `OPENAI_BASE_URL=${base} OPENAI_API_KEY=${key} <your tool>`)
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/v1$/)

      const openai = new OpenAI({ apiKey: key, baseURL: base, maxRetries: 0 })
      const completion = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] })
      )
      assert.strictEqual(completion.choices[0]!.message.content, "hi from the fake backend")
      const wrong = yield* Effect.promise(() => new OpenAI({ apiKey: "nope", baseURL: base, maxRetries: 0 }).models.list().then(() => 200, (e) => e.status))
      assert.strictEqual(wrong, 401)

      yield* Fiber.interrupt(first.fiber)
      assert.include(first.captured.stderr, "Stopping")
      const after = yield* Effect.promise(() => fetch(`${base}/models`).then(() => "served", () => "refused"))
      assert.strictEqual(after, "refused")

      // The next start reuses the stored key and does not print it.
      const second = yield* serve(home, urls, args())
      yield* listening(second.captured)
      assert.notInclude(second.captured.stdout + second.captured.stderr, key)
      assert.include(second.captured.stdout, `API key: the one in ${keyFile}`)
      assert.include(second.captured.stdout, `OPENAI_API_KEY=$(cat '${keyFile}')`)
      yield* Fiber.interrupt(second.fiber)
    }).pipe(Effect.scoped))

  it.live("a key given with --api-key is used and never printed", () =>
    Effect.gen(function*() {
      const { oauth, backend, home } = yield* signedIn
      const given = "sk-given-key-for-this-test-0000000000"
      const run = yield* serve(home, { issuer: oauth.url, codexUrl: backend.baseUrl }, args({ apiKey: Option.some(Redacted.make(given)) }))
      const base = yield* listening(run.captured)
      assert.notInclude(run.captured.stdout + run.captured.stderr, given)
      const models = yield* Effect.promise(() => new OpenAI({ apiKey: given, baseURL: base, maxRetries: 0 }).models.list())
      assert.isAbove(models.data.length, 0)
      assert.throws(() => statSync(join(home, "serve-key")))
      yield* Fiber.interrupt(run.fiber)
    }).pipe(Effect.scoped))

  it.live("a non-loopback host: refused without --allow-remote, and without a key of one's own; nothing is bound or written", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const urls = { issuer: "http://127.0.0.1:9", codexUrl: "http://127.0.0.1:9/backend-api/codex" }
      const failure = (a: Serve.Args) =>
        Effect.flatMap(serve(home, urls, a), ({ fiber }) => Effect.flip(Fiber.join(fiber)))
      const noFlag = yield* failure(args({ host: "0.0.0.0", apiKey: Option.some(Redacted.make("k".repeat(40))) }))
      assert.strictEqual(noFlag._tag, "UsageError")
      assert.include(noFlag.message, "--host 0.0.0.0 is not a loopback address")
      assert.include(noFlag.message, "--allow-remote")
      const noKey = yield* failure(args({ host: "0.0.0.0", allowRemote: true }))
      assert.strictEqual(noKey._tag, "UsageError")
      assert.include(noKey.message, "SUBAUTH_SERVE_KEY or --api-key-file FILE")
      const weak = yield* failure(args({ host: "0.0.0.0", allowRemote: true, apiKey: Option.some(Redacted.make("short")) }))
      assert.strictEqual(weak._tag, "UsageError")
      assert.include(weak.message, "too short")
      const port = yield* failure(args({ port: 70000 }))
      assert.strictEqual(port._tag, "UsageError")
      assert.throws(() => statSync(join(home, "serve-key")))
    }).pipe(Effect.scoped))

  it.live("not signed in: it serves anyway, warns, and requests get 401 saying to run subauth login", () =>
    Effect.gen(function*() {
      const oauth = yield* FakeOAuthServer.make()
      const backend = yield* FakeCodexBackend.make().pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
      const home = yield* tempHome
      const run = yield* serve(home, { issuer: oauth.url, codexUrl: backend.baseUrl }, args())
      const base = yield* listening(run.captured)
      assert.include(run.captured.stderr, "warning: not signed in; run \"subauth login\"")
      const key = /API key: (sk-subauth-\S+)/.exec(run.captured.stdout)![1]!
      const error = yield* Effect.flip(Effect.tryPromise({
        try: () => new OpenAI({ apiKey: key, baseURL: base, maxRetries: 0 }).responses.create({ model: "gpt-5.5", input: "hi" }),
        catch: (e) => e
      }))
      assert.instanceOf(error, OpenAI.AuthenticationError)
      assert.include((error as Error).message, "run \"subauth login\"")
      yield* Fiber.interrupt(run.fiber)
    }).pipe(Effect.scoped))
})
