/**
 * Browser sign-in end to end: Node's loopback server on 127.0.0.1, a test that
 * plays the browser over real HTTP, and the fake issuer.
 */
import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin, TokenManager, TokenStore } from "@subauth/core"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Fiber, Option, TestClock } from "effect"
import { readFileSync } from "node:fs"
import { connect } from "node:net"
import { loginWith, makeBrowser, makeHarness, realPause, stored } from "./login-support.js"

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8"))

const flow = BrowserLogin.layer({ ports: [0] })

const portOf = (url: string) => Number(new URL(new URL(url).searchParams.get("redirect_uri")!).port)

const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(false))))
    socket.once("error", () => resume(Effect.succeed(true)))
  })

/** Signs the default profile in first, so that a failed login can be checked to leave it alone. */
const signInFirst = Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (s) => s.issueTokens()).pipe(
  Effect.tap((t) => Effect.flatMap(TokenStore.TokenStore, (store) => store.set("default", t)))
)

describe("browser login", () => {
  it.effect("signs in: authorize URL and code exchange as the Codex CLI sends them, verified claims, tokens stored, server closed", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer, ui } = yield* makeHarness({ browser: browser.layer })
      yield* Effect.gen(function*() {
        const result = yield* loginWith(flow)
        assert.strictEqual(result.method, "browser")
        assert.isTrue(result.tokens.claimsVerified)
        assert.deepStrictEqual(result.tokens.accountId, Option.some(FakeOAuthServer.defaultAccount.accountId))
        assert.deepStrictEqual(yield* stored, Option.some(result.tokens.toString()))

        const server = yield* FakeOAuthServer.FakeOAuthServer
        const requests = yield* server.requests
        const authorize = requests.find((r) => r.endpoint === "authorize")!
        const expected = fixture("browser-authorize-url.json")
        assert.deepStrictEqual(authorize.query.map(([k]) => k), expected.param_order)
        const query = Object.fromEntries(authorize.query)
        for (const name of ["response_type", "client_id", "code_challenge_method", "scope", "id_token_add_organizations", "codex_cli_simplified_flow", "originator"]) {
          assert.strictEqual(query[name], expected.params[name], name)
        }
        assert.match(query.redirect_uri!, /^http:\/\/127\.0\.0\.1:\d+\/auth\/callback$/)
        assert.match(query.state!, /^[A-Za-z0-9_-]{43}$/)
        assert.match(query.code_challenge!, /^[A-Za-z0-9_-]{43}$/)
        const exchange = requests.find((r) => r.endpoint === "token")!
        assert.deepStrictEqual(FakeHttp.differences(fixture("browser-token-exchange.json"), exchange), [])
        assert.strictEqual(Object.fromEntries(exchange.fields).redirect_uri, query.redirect_uri)

        const events = yield* ui.events
        const shown = events.find((e) => e._tag === "AuthorizeUrl")
        assert.isTrue(shown !== undefined && shown._tag === "AuthorizeUrl" && shown.opened)
        while ((yield* browser.visits).length === 0) yield* realPause(5)
        const [visit] = yield* browser.visits
        assert.strictEqual(visit!.status, 200)
        assert.include(visit!.body, "You are signed in")
        assert.isTrue(yield* refused(portOf(shown!._tag === "AuthorizeUrl" ? shown!.url : "")), "the server is closed")

        // The tokens enter the lifecycle.
        const tokens = yield* TokenManager.get.pipe(Effect.provide(TokenManager.layer()))
        assert.strictEqual(tokens.toString(), result.tokens.toString())
      }).pipe(Effect.provide(layer))
    }))

  it.effect("error=… from the issuer: an escaped error page, a typed error, the store unchanged", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer } = yield* makeHarness({
        browser: browser.layer,
        server: { authorize: { deny: { error: "access_denied", description: "<script>alert('x')</script>" } } }
      })
      yield* Effect.gen(function*() {
        yield* signInFirst
        const before = yield* stored
        const error = yield* Effect.flip(loginWith(flow))
        assert.isTrue(error._tag === "LoginError" && error.reason === "AuthorizationDenied")
        while ((yield* browser.visits).length === 0) yield* realPause(5)
        const [visit] = yield* browser.visits
        assert.notInclude(visit!.body, "<script>")
        assert.include(visit!.body, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
        assert.deepStrictEqual(yield* stored, before)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("missing_codex_entitlement says Codex is not enabled for the workspace", () =>
    Effect.gen(function*() {
      const browser = yield* makeBrowser()
      const { layer } = yield* makeHarness({
        browser: browser.layer,
        server: { authorize: { deny: { error: "access_denied", description: "missing_codex_entitlement" } } }
      })
      const error = yield* Effect.flip(loginWith(flow)).pipe(Effect.provide(layer))
      assert.isTrue(error._tag === "LoginError" && error.reason === "MissingCodexEntitlement")
      assert.include(error.message, "Codex is not enabled for your workspace")
    }))

  it.effect("a wrong state gets 400 State mismatch and the login keeps waiting for the right one", () =>
    Effect.gen(function*() {
      let first = true
      const browser = yield* makeBrowser((callback) => {
        if (!first) return callback.toString()
        first = false
        const wrong = new URL(callback)
        wrong.searchParams.set("state", "not-this-login")
        return wrong.toString()
      })
      const { layer } = yield* makeHarness({ browser: browser.layer })
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(flow))
        while ((yield* browser.visits).length === 0) yield* realPause(5)
        const [mismatch] = yield* browser.visits
        assert.strictEqual(mismatch!.status, 400)
        assert.strictEqual(mismatch!.body, "State mismatch")
        assert.isTrue(Option.isNone(yield* Fiber.poll(login)))
        // The person's browser then arrives with the right state.
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const authorizeRequest = (yield* server.requests).find((r) => r.endpoint === "authorize")!
        const state = Object.fromEntries(authorizeRequest.query).state!
        const right = new URL(mismatch!.callback)
        right.searchParams.set("state", state)
        const page = yield* Effect.promise(() => fetch(right).then((r) => r.text()))
        assert.include(page, "You are signed in")
        const result = yield* Fiber.join(login)
        assert.isTrue(result.tokens.claimsVerified)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a callback without a code, a replayed code, an oversized query: typed errors, the store unchanged", () =>
    Effect.gen(function*() {
      // Without a code.
      const noCode = yield* makeBrowser((callback) => {
        callback.searchParams.delete("code")
        return callback.toString()
      })
      const a = yield* makeHarness({ browser: noCode.layer })
      yield* Effect.gen(function*() {
        yield* signInFirst
        const before = yield* stored
        const error = yield* Effect.flip(loginWith(flow))
        assert.isTrue(error._tag === "LoginError" && error.reason === "MissingCode")
        assert.deepStrictEqual(yield* stored, before)
      }).pipe(Effect.provide(a.layer))

      // A code that was already exchanged.
      let previousCode: string | undefined
      const replay = yield* makeBrowser((callback) => {
        const code = callback.searchParams.get("code")!
        if (previousCode !== undefined) callback.searchParams.set("code", previousCode)
        previousCode = code
        return callback.toString()
      })
      const b = yield* makeHarness({ browser: replay.layer })
      yield* Effect.gen(function*() {
        yield* loginWith(flow)
        const before = yield* stored
        const error = yield* Effect.flip(loginWith(flow))
        assert.isTrue(error._tag === "TokenEndpointError" && error.code === "invalid_grant", error.message)
        assert.deepStrictEqual(yield* stored, before)
        while ((yield* replay.visits).length < 2) yield* realPause(5)
        assert.include((yield* replay.visits)[1]!.body, "Token exchange failed")
      }).pipe(Effect.provide(b.layer))

      // An oversized query is refused unread; the login goes on until cancelled.
      const huge = yield* makeBrowser((callback) => `${callback.toString()}&pad=${"x".repeat(5000)}`)
      const c = yield* makeHarness({ browser: huge.layer })
      yield* Effect.gen(function*() {
        yield* signInFirst
        const before = yield* stored
        const login = yield* Effect.fork(loginWith(flow))
        while ((yield* huge.visits).length === 0) yield* realPause(5)
        assert.strictEqual((yield* huge.visits)[0]!.status, 414)
        const port = new URL((yield* huge.visits)[0]!.callback).port
        const cancel = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/cancel`).then(async (r) => [r.status, await r.text()]))
        assert.deepStrictEqual(cancel, [200, "Login cancelled"])
        const error = yield* Effect.flip(Fiber.join(login))
        assert.isTrue(error._tag === "LoginError" && error.reason === "Cancelled")
        assert.deepStrictEqual(yield* stored, before)
      }).pipe(Effect.provide(c.layer))
    }))

  it.effect("other paths are 404; the login times out after its limit", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(BrowserLogin.layer({ ports: [0], timeout: "10 minutes" })))
        let url: string | undefined
        while (url === undefined) {
          yield* realPause(5)
          const shown = (yield* ui.events).find((e) => e._tag === "AuthorizeUrl")
          if (shown?._tag === "AuthorizeUrl") url = shown.url
        }
        const port = portOf(url)
        const other = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/favicon.ico`).then((r) => r.status))
        assert.strictEqual(other, 404)
        yield* TestClock.adjust("10 minutes")
        const error = yield* Effect.flip(Fiber.join(login))
        assert.isTrue(error._tag === "LoginError" && error.reason === "Timeout")
        assert.include(error.message, "--device")
        assert.isTrue(yield* refused(port))
      }).pipe(Effect.provide(layer))
    }))
})
