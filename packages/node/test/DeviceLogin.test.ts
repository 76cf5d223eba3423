/**
 * Device-code sign-in against the fake issuer over loopback, with TestClock
 * driving the polling interval.
 */
import { assert, describe, it } from "@effect/vitest"
import { DeviceLogin, TokenStore } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Fiber, Option, TestClock } from "effect"
import { readFileSync } from "node:fs"
import { loginWith, makeBrowser, makeHarness, realPause, stored, withClockDriven } from "./login-support.js"

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8"))

describe("device login", () => {
  it.effect("code, pending polls, approval, exchange: requests as the Codex CLI's, prompt with code, time left and warning", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness({ server: { devicePendingPolls: 3 } })
      yield* Effect.gen(function*() {
        const result = yield* withClockDriven(loginWith(DeviceLogin.layer()))
        assert.strictEqual(result.method, "device")
        assert.isTrue(result.tokens.claimsVerified)
        assert.deepStrictEqual(yield* stored, Option.some(result.tokens.toString()))

        const server = yield* FakeOAuthServer.FakeOAuthServer
        const requests = yield* server.requests
        const userCode = requests.filter((r) => r.endpoint === "deviceUserCode")
        const polls = requests.filter((r) => r.endpoint === "deviceToken")
        const exchange = requests.filter((r) => r.endpoint === "token")
        assert.lengthOf(userCode, 1)
        assert.lengthOf(polls, 4, "three pending, one approved")
        assert.lengthOf(exchange, 1)
        assert.deepStrictEqual(FakeHttp.differences(fixture("device-usercode.json"), userCode[0]!), [])
        assert.deepStrictEqual(FakeHttp.differences(fixture("device-token-pending.json"), polls[0]!), [])
        assert.deepStrictEqual(FakeHttp.differences(fixture("device-token-exchange.json"), exchange[0]!), [])
        assert.strictEqual(Object.fromEntries(exchange[0]!.fields).redirect_uri, `${server.url}/deviceauth/callback`)
        // Never faster than the interval ("1" second, sent as a string).
        for (const [i, poll] of polls.slice(1).entries()) assert.isAtLeast(poll.at - polls[i]!.at, 1000)

        const prompt = (yield* ui.events).find((e) => e._tag === "DeviceCode")
        assert.isTrue(prompt?._tag === "DeviceCode")
        if (prompt?._tag === "DeviceCode") {
          assert.strictEqual(prompt.verificationUrl, `${server.url}/codex/device`)
          assert.match(prompt.userCode, /^FAKE-/)
          assert.strictEqual(prompt.expiresAt.epochMillis - userCode[0]!.at, 15 * 60_000)
        }
      }).pipe(Effect.provide(layer))
    }))

  it.effect("usercode 404: DeviceLoginDisabled saying how to enable it; the store unchanged", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness({ server: { deviceEnabled: false } })
      yield* Effect.gen(function*() {
        const before = yield* stored
        const error = yield* Effect.flip(loginWith(DeviceLogin.layer()))
        assert.isTrue(error._tag === "LoginError" && error.reason === "DeviceLoginDisabled")
        assert.include(error.message, "Settings → Security")
        assert.include(error.message, "--browser")
        assert.deepStrictEqual(yield* stored, before)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("usercode 404 with the browser fallback: signs in through the browser", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer, ui } = yield* makeHarness({ server: { deviceEnabled: false }, browser: browser.layer })
      yield* Effect.gen(function*() {
        const result = yield* loginWith(DeviceLogin.layerWithBrowserFallback({}, { ports: [0] }))
        assert.isTrue(result.tokens.claimsVerified)
        assert.strictEqual(result.method, "browser")
        const warning = (yield* ui.events).find((e) => e._tag === "Warning")
        assert.isTrue(warning?._tag === "Warning" && warning.text.includes("browser"))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("never approved: DeviceCodeExpired after 15 minutes; the store unchanged", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness({ server: { devicePendingPolls: "manual" } })
      yield* Effect.gen(function*() {
        const issued = yield* Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (s) => s.issueTokens())
        yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.set("default", issued))
        const before = yield* stored
        const error = yield* Effect.flip(withClockDriven(loginWith(DeviceLogin.layer()), "5 minutes"))
        assert.isTrue(error._tag === "LoginError" && error.reason === "DeviceCodeExpired")
        assert.deepStrictEqual(yield* stored, before)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("short server failures while polling do not end the wait; a 400 does", () =>
    Effect.gen(function*() {
      const { layer } = yield* makeHarness({ server: { devicePendingPolls: 1 } })
      yield* Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        yield* server.inject({ endpoint: "deviceToken", fault: FakeHttp.status(503), calls: [1, 2] })
        yield* withClockDriven(loginWith(DeviceLogin.layer()))
        yield* server.inject({ endpoint: "deviceToken", fault: FakeHttp.status(400, { error: "bad" }), calls: [1] })
        const error = yield* Effect.flip(withClockDriven(loginWith(DeviceLogin.layer())))
        assert.isTrue(error._tag === "LoginError" && error.reason === "DeviceAuthFailed")
        assert.include(error.message, "400")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("the prompt shows while polling; approval through the verification page ends it", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness({ server: { devicePendingPolls: "manual" } })
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(DeviceLogin.layer()))
        let code: string | undefined
        while (code === undefined) {
          yield* realPause(5)
          const prompt = (yield* ui.events).find((e) => e._tag === "DeviceCode")
          if (prompt?._tag === "DeviceCode") code = prompt.userCode
        }
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const approved = yield* Effect.promise(() =>
          fetch(`${server.url}/codex/device`, { method: "POST", body: new URLSearchParams({ user_code: code! }) }).then((r) => r.status)
        )
        assert.strictEqual(approved, 200)
        while (Option.isNone(yield* Fiber.poll(login))) {
          yield* realPause(10)
          yield* TestClock.adjust("1 second")
        }
        assert.isTrue((yield* Fiber.join(login)).tokens.claimsVerified)
      }).pipe(Effect.provide(layer))
    }))
})
