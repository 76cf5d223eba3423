import { assert, describe, it } from "@effect/vitest"
import { Login, LoginUI, PasteLogin } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Option } from "effect"
import { loginWith, makeHarness, stored } from "./login-support.js"

/** Plays the person: opens the authorize URL it was shown and returns where the browser was sent. */
const browseTo = (events: Effect.Effect<ReadonlyArray<LoginUI.LoginEvent>>) =>
  Effect.gen(function*() {
    const shown = (yield* events).find((e) => e._tag === "AuthorizeUrl")
    if (shown?._tag !== "AuthorizeUrl") return yield* Effect.dieMessage("no authorize URL was shown")
    const answer = yield* Effect.promise(() => fetch(shown.url, { redirect: "manual" }))
    return answer.headers.get("location")!
  })

describe("paste login", () => {
  it.effect("the pasted redirect is checked and exchanged; the redirect never needs to load", () =>
    Effect.gen(function*() {
      // The UI's answer is produced lazily: the person pastes what the browser shows.
      const ui = yield* LoginUI.makeTest({ answers: [] })
      let pasted = ""
      const { layer } = yield* makeHarness()
      const person: LoginUI.Service = {
        ...ui.service,
        ask: (question) => Effect.gen(function*() {
          yield* ui.service.ask(question)
          pasted = yield* browseTo(ui.events)
          return Option.some(`  ${pasted}\n`)
        })
      }
      yield* Effect.gen(function*() {
        const result = yield* Login.login({ acceptTerms: true }).pipe(
          Effect.provide(PasteLogin.layer()),
          Effect.provideService(LoginUI.LoginUI, person)
        )
        assert.strictEqual(result.method, "paste")
        assert.isTrue(result.tokens.claimsVerified)
        assert.isTrue(pasted.startsWith("http://127.0.0.1:1455/auth/callback?code="))
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const exchange = (yield* server.requests).find((r) => r.endpoint === "token")!
        assert.strictEqual(Object.fromEntries(exchange.fields).redirect_uri, "http://127.0.0.1:1455/auth/callback")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a redirect of another login (wrong state) is refused before any exchange; the store unchanged", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness({
        ui: { answers: ["http://127.0.0.1:1455/auth/callback?code=ac_FAKE_x&state=someone-elses"] }
      })
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(loginWith(PasteLogin.layer()))
        assert.isTrue(error._tag === "LoginError" && error.reason === "StateMismatch")
        const server = yield* FakeOAuthServer.FakeOAuthServer
        assert.lengthOf((yield* server.requests).filter((r) => r.endpoint === "token"), 0)
        assert.isTrue(Option.isNone(yield* stored))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("without a terminal: NotInteractive, pointing to --device", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness({ ui: { interactive: false } })
      const error = yield* Effect.flip(loginWith(PasteLogin.layer())).pipe(Effect.provide(layer))
      assert.isTrue(error._tag === "LoginError" && error.reason === "NotInteractive")
      assert.include(error.message, "--device")
    }))
})
