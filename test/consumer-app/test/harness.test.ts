// A user's own tests of a program built on subauth, with the fakes of @subauth/testing.
import { assert, describe, it } from "@effect/vitest"
import { SubscriptionLLM, TokenManager } from "@subauth/core"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Redacted, TestClock } from "effect"

// The program under test.
const summarize = (text: string) =>
  Effect.map(
    SubscriptionLLM.generate({ system: "Summarize in five words.", input: [SubscriptionLLM.userMessage(text)] }),
    (result) => result.text
  )

describe("summarize, on the fakes", () => {
  it.live("answers with the model's text, and sends the system prompt", () =>
    Effect.gen(function* () {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      yield* backend.enqueue({ items: [FakeCodexBackend.message("Effect makes programs composable.")] })
      assert.strictEqual(yield* summarize("A long text about Effect."), "Effect makes programs composable.")
      const [request] = yield* backend.requests
      assert.include(request?.body, "Summarize in five words.")
    }).pipe(Effect.provide(FakeCodexBackend.layerTest())))

  it.effect("an expired access token is refreshed at the fake issuer, on the TestClock", () =>
    Effect.gen(function* () {
      const before = yield* TokenManager.accessToken
      yield* TestClock.adjust("2 hours")
      const after = yield* TokenManager.accessToken
      assert.notStrictEqual(Redacted.value(after), Redacted.value(before))
      const issuer = yield* FakeOAuthServer.FakeOAuthServer
      assert.deepStrictEqual((yield* issuer.requests).map((r) => r.endpoint), ["token"])
    }).pipe(Effect.provide(FakeCodexBackend.layerTest())))
})
