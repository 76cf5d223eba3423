/**
 * `subauth serve` and its key: the home is checked before a key is read or
 * written there (a 0755 SUBAUTH_HOME got a key, then a refusal); a planted
 * symbolic link is never followed; a key made for a start that then fails is
 * not kept; and a key on the command line (`--api-key`, visible to every local
 * user in `ps`) warns, while SUBAUTH_SERVE_KEY and `--api-key-file` do not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Redacted } from "effect"
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import OpenAI from "openai"
import { args, listening, serve, signedIn } from "./serve-support.js"
import { tempHome } from "./support.js"

const failureOf = (home: string, urls: { readonly issuer: string; readonly codexUrl: string }, a: ReturnType<typeof args>) =>
  Effect.flatMap(serve(home, urls, a), ({ fiber, captured }) => Effect.map(Effect.flip(Fiber.join(fiber)), (error) => ({ error, captured })))

const nowhere = { issuer: "http://127.0.0.1:9", codexUrl: "http://127.0.0.1:9/backend-api/codex" }

describe("subauth serve: the key's file and where the key comes from", () => {
  it.live("a SUBAUTH_HOME others can read: refused before any key is written", () =>
    Effect.gen(function*() {
      const home = join(yield* tempHome, "home")
      mkdirSync(home, { mode: 0o755 })
      chmodSync(home, 0o755)
      const { error } = yield* failureOf(home, nowhere, args())
      assert.strictEqual(error._tag, "StartError")
      assert.include(error.message, "accessible to other users (mode 0755)")
      assert.include(error.message, `chmod 700 '${home}'`)
      assert.isFalse(existsSync(join(home, "serve-key")), "no key was written")
    }).pipe(Effect.scoped))

  it.live("a shared 1777 directory as SUBAUTH_HOME: refused, nothing written", () =>
    Effect.gen(function*() {
      const home = join(yield* tempHome, "shared")
      mkdirSync(home)
      chmodSync(home, 0o1777)
      const { error } = yield* failureOf(home, nowhere, args())
      assert.include(error.message, "accessible to other users (mode 0777)")
      assert.isFalse(existsSync(join(home, "serve-key")))
    }).pipe(Effect.scoped))

  it.live("a symbolic link planted at serve-key is not followed, to read a key or to write one", () =>
    Effect.gen(function*() {
      const home = join(yield* tempHome, "home")
      mkdirSync(home, { mode: 0o700 })
      const planted = join(home, "..", "attackers-key")
      writeFileSync(planted, "sk-the-attacker-knows-this-key-000000000\n", { mode: 0o600 })
      symlinkSync(planted, join(home, "serve-key"))
      const read = yield* failureOf(home, nowhere, args())
      assert.include(read.error.message, "symbolic link")
      assert.notInclude(read.captured.stdout, "Listening")
      // A dangling link, where the key would be written.
      const target = join(home, "..", "would-be-written")
      const dangling = join(yield* tempHome, "home2")
      mkdirSync(dangling, { mode: 0o700 })
      symlinkSync(target, join(dangling, "serve-key"))
      const write = yield* failureOf(dangling, nowhere, args())
      assert.include(write.error.message, "symbolic link")
      assert.isFalse(existsSync(target), "nothing was written through the link")
      assert.isTrue(lstatSync(join(dangling, "serve-key")).isSymbolicLink())
    }).pipe(Effect.scoped))

  it.live("a start that fails to bind keeps no key nobody was shown", () =>
    Effect.gen(function*() {
      const home = join(yield* tempHome, "home")
      const taken = yield* Effect.async<{ readonly port: number; readonly close: () => void }>((resume) => {
        const server = createServer().listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed({ port: typeof address === "object" && address !== null ? address.port : 0, close: () => server.close() }))
        })
      })
      const { error, captured } = yield* failureOf(home, nowhere, args({ port: taken.port }))
      taken.close()
      assert.strictEqual(error._tag, "StartError")
      assert.include(error.message, "already in use")
      assert.notInclude(captured.stdout, "sk-subauth-")
      assert.isFalse(existsSync(join(home, "serve-key")), "the generated key was not kept")
    }).pipe(Effect.scoped))

  it.live("--api-key warns that every local user can read it; SUBAUTH_SERVE_KEY and --api-key-file do not", () =>
    Effect.gen(function*() {
      const { oauth, backend, home } = yield* signedIn
      const urls = { issuer: oauth.url, codexUrl: backend.baseUrl }
      const key = "sk-given-key-for-this-test-0000000000"

      const flag = yield* serve(home, urls, args({ apiKey: Option.some(Redacted.make(key)) }))
      yield* listening(flag.captured)
      assert.include(flag.captured.stderr, "--api-key puts the key on the command line, which every user of this machine can read")
      assert.include(flag.captured.stderr, "SUBAUTH_SERVE_KEY or use --api-key-file")
      yield* Fiber.interrupt(flag.fiber)

      const env = yield* serve(home, urls, args({ envApiKey: Option.some(Redacted.make(key)) }))
      const base = yield* listening(env.captured)
      assert.notInclude(env.captured.stderr, "warning")
      assert.include(env.captured.stdout, "API key: the one you gave (SUBAUTH_SERVE_KEY)")
      const models = yield* Effect.promise(() => new OpenAI({ apiKey: key, baseURL: base, maxRetries: 0 }).models.list())
      assert.isAbove(models.data.length, 0)
      yield* Fiber.interrupt(env.fiber)

      const file = join(home, "my-key")
      writeFileSync(file, `${key}\n`, { mode: 0o600 })
      const fromFile = yield* serve(home, urls, args({ apiKeyFile: Option.some(file) }))
      const base2 = yield* listening(fromFile.captured)
      assert.notInclude(fromFile.captured.stderr, "warning")
      assert.include(fromFile.captured.stdout, `OPENAI_API_KEY=$(cat '${file}')`)
      assert.notInclude(fromFile.captured.stdout + fromFile.captured.stderr, key)
      yield* Effect.promise(() => new OpenAI({ apiKey: key, baseURL: base2, maxRetries: 0 }).models.list())
      yield* Fiber.interrupt(fromFile.fiber)
      assert.isFalse(existsSync(join(home, "serve-key")), "no key was generated")

      chmodSync(file, 0o644)
      const exposed = yield* failureOf(home, urls, args({ apiKeyFile: Option.some(file) }))
      assert.include(exposed.error.message, `chmod 600 '${file}'`)
      const both = yield* failureOf(home, urls, args({ apiKey: Option.some(Redacted.make(key)), apiKeyFile: Option.some(file) }))
      assert.strictEqual(both.error._tag, "UsageError")
      assert.strictEqual(readFileSync(file, "utf8").trim(), key)
    }).pipe(Effect.scoped))
})
