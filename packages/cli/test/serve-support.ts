/**
 * `subauth serve` in-process for tests: signed in through the real `login`
 * command against the fake issuer, run in a fiber with captured output.
 */
import { assert } from "@effect/vitest"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Option, Schedule } from "effect"
import { join } from "node:path"
import * as Serve from "../src/commands/serve.js"
import * as Output from "../src/Output.js"
import * as Settings from "../src/Settings.js"
import { makeRunner, tempHome } from "./support.js"

export const signedIn = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 0 })
  const backend = yield* FakeCodexBackend.make().pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
  const home = yield* tempHome
  const login = yield* makeRunner({ home, issuer: oauth.url, codexUrl: backend.baseUrl })("login", "--device", "--accept-terms", "--store", "file")
  assert.strictEqual(login.code, 0, login.stderr)
  return { oauth, backend, home }
})

export const args = (overrides: Partial<Serve.Args> = {}): Serve.Args => ({
  port: 0,
  host: "127.0.0.1",
  profile: "default",
  store: "file",
  apiKey: Option.none(),
  allowRemote: false,
  cors: [],
  ...overrides
})

/** Runs `serve` in a fiber with captured output, for settings pointing at the fakes. */
export const serve = (home: string, urls: { readonly issuer: string; readonly codexUrl: string }, a: Serve.Args) =>
  Effect.gen(function*() {
    const captured = { stdout: "", stderr: "" }
    const settings: Settings.Service = {
      home,
      codexHome: join(home, "codex"),
      issuer: Option.some(urls.issuer),
      codexUrl: Option.some(urls.codexUrl),
      allowInsecureHttp: true,
      interactive: false,
      color: false,
      stderrIsTTY: false,
      stdoutIsTTY: false,
      displayLikely: false,
      platform: process.platform
    }
    const output = Output.make(
      { stdout: (t) => void (captured.stdout += t), stderr: (t) => void (captured.stderr += t) },
      { color: false, stderrIsTTY: false }
    )
    const fiber = yield* Effect.fork(
      Serve.run(a).pipe(
        Effect.provide(Layer.merge(Layer.succeed(Settings.Settings, settings), Layer.succeed(Output.Output, output))),
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
    )
    return { fiber, captured }
  })

/** The base URL, once `serve` has printed everything it prints at start. */
export const listening = (captured: { readonly stdout: string; readonly stderr: string }) =>
  Effect.suspend(() => {
    const m = /Listening on (http:\/\/127\.0\.0\.1:\d+\/v1) /.exec(captured.stdout)
    return m !== null && captured.stderr.includes("Press Ctrl-C") ? Effect.succeed(m[1]!) : Effect.fail("not yet")
  }).pipe(Effect.retry(Schedule.spaced("10 millis")))

