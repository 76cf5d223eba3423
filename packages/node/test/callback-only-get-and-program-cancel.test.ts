/**
 * The login's callback server: only a `GET` completes a login (a `DELETE
 * /auth/callback?code&state` did), and `/cancel` ends one only when a program
 * asks, as the Codex CLI does for a stale login server (a bare `GET /cancel`
 * with `Host: 127.0.0.1:<port>`), never a web page (`Origin`, `Referer`,
 * `Sec-Fetch-Site`, a browser's user agent, another `Host`).
 */
import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin, LoginUI } from "@subauth/core"
import { Effect, Fiber, Option } from "effect"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { loginWith, makeHarness, realPause } from "./login-support.js"

const flow = BrowserLogin.layer({ ports: [0] })

/** One request to the callback server, as raw as it needs to be: the status and body. */
const send = (port: number, method: string, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<{ readonly status: number; readonly body: string }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, setHost: !("host" in headers) }, (res) => {
        let body = ""
        res.on("data", (c) => (body += c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on("error", reject)
      req.end()
    })
  )

/** The request the Codex CLI sends to a stale login server, byte for byte (protocol.md §1.2). */
const codexCancel = (port: number) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () =>
        socket.end(`GET /cancel HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`))
      let answer = ""
      socket.on("data", (c) => (answer += c))
      socket.on("close", () => resolve(answer))
      socket.on("error", () => resolve(answer))
    })
  )

/** Starts a login and waits for its authorize URL: the callback's port, and the redirect the issuer makes. */
const started = (ui: { readonly events: Effect.Effect<ReadonlyArray<LoginUI.LoginEvent>> }) =>
  Effect.gen(function*() {
    let url: string | undefined
    while (url === undefined) {
      yield* realPause(5)
      const shown = (yield* ui.events).find((e) => e._tag === "AuthorizeUrl")
      if (shown?._tag === "AuthorizeUrl") url = shown.url
    }
    const port = Number(new URL(new URL(url).searchParams.get("redirect_uri")!).port)
    const authorize = yield* Effect.promise(() => fetch(url!, { redirect: "manual" }))
    const callback = new URL(authorize.headers.get("location")!)
    return { port, path: `${callback.pathname}${callback.search}` }
  })

describe("the callback server", () => {
  it.effect("only GET completes a login: DELETE, POST and PUT with the right code and state get 405", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(flow))
        const { port, path } = yield* started(ui)
        for (const method of ["DELETE", "POST", "PUT", "PATCH"]) {
          assert.deepStrictEqual(yield* send(port, method, path), { status: 405, body: "Method Not Allowed" }, method)
        }
        yield* realPause(20)
        assert.isTrue(Option.isNone(yield* Fiber.poll(login)), "no other method completed the login")
        const page = yield* send(port, "GET", path)
        assert.strictEqual(page.status, 200)
        assert.include(page.body, "You are signed in")
        const result = yield* Fiber.join(login)
        assert.isTrue(result.tokens.claimsVerified)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a web page cannot cancel a login; the Codex CLI's request to a stale server still does", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(flow))
        const { port } = yield* started(ui)
        const self = `127.0.0.1:${port}`
        const browserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        for (
          const headers of [
            { origin: "https://evil.example" },
            { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "user-agent": browserAgent },
            { "sec-fetch-site": "same-origin", host: `evil.example:${port}` },
            { referer: "https://evil.example/page" },
            { "user-agent": browserAgent },
            { host: `evil.example:${port}` },
            { host: "127.0.0.1:1" }
          ] as ReadonlyArray<Record<string, string>>
        ) {
          assert.strictEqual((yield* send(port, "GET", "/cancel", headers)).status, 403, JSON.stringify(headers))
        }
        assert.strictEqual((yield* send(port, "POST", "/cancel", { host: self })).status, 405)
        yield* realPause(20)
        assert.isTrue(Option.isNone(yield* Fiber.poll(login)), "the login is still waiting")

        const answer = yield* codexCancel(port)
        assert.match(answer, /^HTTP\/1\.1 200 /)
        assert.include(answer, "Login cancelled")
        const error = yield* Effect.flip(Fiber.join(login))
        assert.isTrue(error._tag === "LoginError" && error.reason === "Cancelled")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("the person typing the address in their own browser (Sec-Fetch-Site: none) may cancel", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(flow))
        const { port } = yield* started(ui)
        const typed = yield* send(port, "GET", "/cancel", {
          "sec-fetch-site": "none",
          "sec-fetch-mode": "navigate",
          "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
        })
        assert.strictEqual(typed.status, 200)
        const error = yield* Effect.flip(Fiber.join(login))
        assert.isTrue(error._tag === "LoginError" && error.reason === "Cancelled")
      }).pipe(Effect.provide(layer))
    }))
})
