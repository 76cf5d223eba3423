/**
 * The @effect/ai path with every log level on: a turn, 401 recovery, a usage
 * limit, a backend that echoes the token. No piece of a token in any log line
 * or printed error.
 */
import { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Cause, Effect, Layer, Logger, LogLevel } from "effect"
import * as SubscriptionLanguageModel from "../src/SubscriptionLanguageModel.js"
import { testLayers } from "./support.js"

describe("secrets never reach output (@effect/ai path)", () => {
  const lines: Array<string> = []
  const logging = Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))),
    Logger.minimumLogLevel(LogLevel.All)
  )
  it.live("no token in logs or printed errors", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const printed: Array<string> = []
      const failure = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(Effect.flip(effect), (e) => Effect.sync(() => printed.push(e.message, String(e), JSON.stringify(e), Cause.pretty(Cause.fail(e)))))
      yield* LanguageModel.generateText({ prompt: "hi" }).pipe(SubscriptionLanguageModel.withConfigOverride({ temperature: 1 }))
      const [first] = yield* backend.requests
      const token = first!.headers.find(([n]) => n === "authorization")![1].slice("Bearer ".length)
      yield* backend.rejectAccessToken(token)
      yield* LanguageModel.generateText({ prompt: "again" })
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(400, { detail: `token ${token}` }), calls: [1] })
      yield* failure(LanguageModel.generateText({ prompt: "echo" }))
      yield* backend.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1795346996, resetsInSeconds: 60 }), calls: [1] })
      yield* failure(LanguageModel.generateText({ prompt: "limit" }))
      const secrets = new Set((yield* backend.requests).map((r) => r.headers.find(([n]) => n === "authorization")![1].slice(7)))
      assert.strictEqual(secrets.size, 2, "the first token and the recovered one")
      assert.isAbove(lines.length, 5)
      const all = [...lines, ...printed].join("\n")
      for (const secret of secrets) {
        for (let i = 0; i + 24 <= secret.length; i += 12) assert.notInclude(all, secret.slice(i, i + 24))
      }
      assert.isTrue(printed.some((l) => l.includes("token <redacted>")))
    }).pipe(Effect.provide(SubscriptionLanguageModel.layer().pipe(Layer.provideMerge(testLayers()))), Effect.provide(logging)))
})
