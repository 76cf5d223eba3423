/**
 * The login's callback server: only a `GET` completes a login (a `DELETE
 * /auth/callback?code&state` did), and `/cancel` ends one only when a program
 * asks, as the Codex CLI does for a stale login server (a bare `GET /cancel`
 * with `Host: 127.0.0.1:<port>`), never a web page (`Origin`, `Referer`,
 * `Sec-Fetch-Site`, a browser's user agent, another `Host`).
 */
import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin, type Login } from "@subauth/core"
import { Effect, Fiber, Option } from "effect"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { authorizeUrlShown, loginWith, makeHarness, realPause } from "./login-support.js"

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

/**
 * Runs `test` during a login in progress: the login's fiber, its callback
 * server's port, and the callback the issuer redirects to.
 */
const duringLogin = <A, E>(
  test: (started: {
    readonly login: Fiber.RuntimeFiber<Login.LoginResult, Login.Error>
    readonly port: number
    readonly path: string
  }) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const { layer, ui } = yield* makeHarness()
    return yield* Effect.gen(function*() {
      const login = yield* Effect.fork(loginWith(flow))
      const { port, url } = yield* authorizeUrlShown(ui)
      const authorize = yield* Effect.promise(() => fetch(url, { redirect: "manual" }))
      const callback = new URL(authorize.headers.get("location")!)
      return yield* test({ login, port, path: `${callback.pathname}${callback.search}` })
    }).pipe(Effect.provide(layer))
  })

/** The login's end after a cancel: `Cancelled`. */
const cancelled = <A, E extends { readonly _tag: string; readonly reason?: string }>(login: Fiber.Fiber<A, E>) =>
  Effect.map(Effect.flip(Fiber.join(login)), (error) => error._tag === "LoginError" && error.reason === "Cancelled")

describe("the callback server", () => {
  it.effect("only GET completes a login: DELETE, POST and PUT with the right code and state get 405", () =>
    duringLogin(({ login, path, port }) =>
      Effect.gen(function*() {
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
      })
    ))

  it.effect("a web page cannot cancel a login; the Codex CLI's request to a stale server still does", () =>
    duringLogin(({ login, port }) =>
      Effect.gen(function*() {
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
        assert.isTrue(yield* cancelled(login))
      })
    ))

  it.effect("the person typing the address in their own browser (Sec-Fetch-Site: none) may cancel", () =>
    duringLogin(({ login, port }) =>
      Effect.gen(function*() {
        const typed = yield* send(port, "GET", "/cancel", {
          "sec-fetch-site": "none",
          "sec-fetch-mode": "navigate",
          "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
        })
        assert.strictEqual(typed.status, 200)
        assert.isTrue(yield* cancelled(login))
      })
    ))
})
