/**
 * The login's callback server under arbitrary bytes (fast-check, over real
 * sockets): whatever arrives, the answer is never a 500 and nothing crashes;
 * no garbage completes or cancels the login; and afterwards the real redirect
 * still signs in.
 */
import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin } from "@subauth/core"
import { Effect, Fiber, Option } from "effect"
import * as fc from "fast-check"
import { connect } from "node:net"
import { authorizeUrlShown, loginWith, makeHarness } from "./login-support.js"

/** Sends raw bytes; the status line of the answer, if one came before the server closed or 1 s passed. */
const raw = (port: number, bytes: Uint8Array) =>
  new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    let answer = ""
    const done = () => {
      socket.destroy()
      resolve(answer === "" ? undefined : answer.split("\r\n")[0])
    }
    socket.setTimeout(1000, done)
    socket.on("data", (c) => {
      answer += c.toString("latin1")
      if (answer.includes("\r\n")) done()
    })
    socket.on("error", done)
    socket.on("close", done)
    socket.write(bytes, () => socket.end())
  })

const request = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc.record({
    method: fc.constantFrom("GET", "POST", "DELETE", "HEAD", "OPTIONS", "G\u0000T", "TRACE", ""),
    path: fc.oneof(
      fc.constantFrom("/auth/callback", "/cancel", "/", "//", "/auth/callback/", "/%2e%2e/", "*"),
      fc.string({ unit: "binary", maxLength: 60 })
    ),
    query: fc.array(fc.tuple(fc.constantFrom("code", "state", "error", "error_description", "x"), fc.string({ unit: "binary", maxLength: 40 })), { maxLength: 5 }),
    headers: fc.array(fc.tuple(fc.constantFrom("host", "origin", "sec-fetch-site", "content-length", "transfer-encoding", "x"), fc.string({ unit: "binary", maxLength: 30 })), { maxLength: 4 }),
    body: fc.string({ unit: "binary", maxLength: 100 })
  }).map(({ body, headers, method, path, query }) =>
    new TextEncoder().encode(
      `${method} ${path}${query.length > 0 ? `?${query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}` : ""} HTTP/1.1\r\n` +
        `${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n${body}`
    ))
)

describe("fuzz: the callback server", () => {
  it.effect("arbitrary requests: never a 500, the login neither completed nor cancelled by them; the real redirect then signs in", () =>
    Effect.gen(function*() {
      const { layer, ui } = yield* makeHarness()
      yield* Effect.gen(function*() {
        const login = yield* Effect.fork(loginWith(BrowserLogin.layer({ ports: [0] })))
        const { port, url } = yield* authorizeUrlShown(ui)
        const statuses = new Set<string>()
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(request, async (bytes) => {
              const status = await raw(port, bytes)
              if (status !== undefined) {
                statuses.add(status.slice(9, 12))
                assert.notMatch(status, /^HTTP\/1\.[01] 5/, status)
              }
            }),
            { numRuns: 300 }
          )
        )
        // The fuzz had no state: nothing it sent could complete the login; the garbage it sent did not cancel it either.
        assert.isTrue(Option.isNone(yield* Fiber.poll(login)), [...statuses].join(","))
        const authorize = yield* Effect.promise(() => fetch(url, { redirect: "manual" }))
        const page = yield* Effect.promise(() => fetch(authorize.headers.get("location")!).then((r) => r.text()))
        assert.include(page, "You are signed in")
        const result = yield* Fiber.join(login)
        assert.isTrue(result.tokens.claimsVerified)
      }).pipe(Effect.provide(layer))
    }), 60_000)
})
