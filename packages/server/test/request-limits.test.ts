/**
 * What a client can send the proxy is bounded: a body over 10 MiB is answered
 * 413 and not read further (the connection is closed), JSON nested deeper
 * than 64 levels is a 400 (9,000 levels were a 500: a stack overflow), and a
 * `prompt_cache_key` that cannot be a header is a 400 (CRLF was a 500; 100 KB
 * was forwarded).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { request as httpRequest } from "node:http"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, backendBodies, fetchProxy, KEY, layer } from "./support.js"

const MiB = 1024 * 1024

interface Sent {
  readonly status: number | undefined
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  /** Bytes of the body the client managed to hand to its socket. */
  readonly written: number
}

/**
 * POSTs `total` bytes of `{"model":"x","messages":[…` filler to `path`, made as
 * they are written (nothing is held), with or without a declared length; keeps
 * writing after the answer until all is written or the proxy closes the
 * connection, and returns the answer and how much could be written.
 */
const upload = (path: string, total: number, options: { readonly declare?: boolean; readonly key?: string } = {}) =>
  Effect.flatMap(OpenAIProxy.OpenAIProxy, (proxy) =>
    Effect.async<Sent>((resume) => {
      const url = new URL(`${proxy.url}${path}`)
      const chunk = Buffer.alloc(64 * 1024, "a")
      let written = 0
      let answer: Omit<Sent, "written"> | undefined
      let closed = false
      let done = false
      const finish = () => {
        if (!done && answer !== undefined && (closed || written >= total)) {
          done = true
          resume(Effect.succeed({ ...answer, written }))
        }
      }
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: {
          authorization: `Bearer ${options.key ?? Redacted.value(KEY)}`,
          "content-type": "application/json",
          ...(options.declare === true ? { "content-length": String(total) } : {})
        }
      })
      req.on("response", (res) => {
        const parts: Array<Buffer> = []
        res.on("data", (c: Buffer) => parts.push(c))
        res.on("end", () => {
          answer = { status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString("utf8") }
          finish()
        })
      })
      req.on("error", () => {})
      req.on("close", () => {
        closed = true
        finish()
      })
      const pump = () => {
        while (!req.destroyed && written < total) {
          const ok = req.write(written === 0 ? Buffer.from("{\"model\":\"gpt-5.5\",\"messages\":[\"") : chunk)
          written += written === 0 ? 32 : chunk.length
          if (!ok) return void req.once("drain", pump)
        }
        if (written >= total && !req.destroyed) req.end()
        finish()
      }
      pump()
      return Effect.sync(() => req.destroy())
    }))

const chat = (body: unknown) =>
  fetchProxy("/v1/chat/completions", { method: "POST", headers: authorized, body: JSON.stringify(body) })

describe("request limits of the proxy", () => {
  it("the limits", () => {
    assert.strictEqual(OpenAIProxy.MAX_BODY_BYTES, 10 * MiB)
    assert.strictEqual(OpenAIProxy.MAX_JSON_DEPTH, 64)
  })

  it.live("a 256 MiB upload without a length: 413 in OpenAI's format, read no further than the limit, the connection closed", () =>
    Effect.gen(function*() {
      const sent = yield* upload("/v1/chat/completions", 256 * MiB)
      assert.strictEqual(sent.status, 413, sent.body)
      const error = JSON.parse(sent.body).error
      assert.strictEqual(error.code, "request_too_large")
      assert.include(error.message, "larger than 10 MiB")
      // The proxy reads 10 MiB, answers, and closes the connection: the client could send no more than what the
      // sockets' buffers hold beyond that.
      assert.isBelow(sent.written, 64 * MiB)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("a declared length over the limit: 413 before any of the body is read", () =>
    Effect.gen(function*() {
      const sent = yield* upload("/v1/responses", 1024 * MiB, { declare: true })
      assert.strictEqual(sent.status, 413, sent.body)
      assert.isBelow(sent.written, 64 * MiB)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("a 256 MiB upload with a wrong key: 401, unread, the connection closed", () =>
    Effect.gen(function*() {
      const sent = yield* upload("/v1/chat/completions", 256 * MiB, { key: "not-the-key" })
      assert.strictEqual(sent.status, 401, sent.body)
      assert.isBelow(sent.written, 64 * MiB)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("a body just under the limit is read and answered as usual", () =>
    Effect.gen(function*() {
      const padding = "x".repeat(9 * MiB)
      const response = yield* chat({ model: "gpt-5.5", messages: [{ role: "user", content: `hi ${padding}` }] })
      assert.strictEqual(response.status, 200)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("JSON nested 9,000 levels deep in a tool's parameters: 400, not 500", () =>
    Effect.gen(function*() {
      const deep = `${"{\"a\":".repeat(9000)}1${"}".repeat(9000)}`
      const text = `{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],` +
        `"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]}`
      const response = yield* fetchProxy("/v1/chat/completions", { method: "POST", headers: authorized, body: text })
      assert.strictEqual(response.status, 400)
      const error = (yield* Effect.promise(() => response.json())).error
      assert.strictEqual(error.code, "invalid_body")
      assert.include(error.message, "nested deeper than 64 levels")
      const responses = yield* fetchProxy("/v1/responses", {
        method: "POST",
        headers: authorized,
        body: `{"model":"gpt-5.5","input":"hi","tools":[{"type":"function","name":"f","parameters":${deep}}]}`
      })
      assert.strictEqual(responses.status, 400)
      // Strings do not count: brackets inside them are text.
      const brackets = yield* chat({ model: "gpt-5.5", messages: [{ role: "user", content: "[".repeat(10_000) }] })
      assert.strictEqual(brackets.status, 200)
    }).pipe(Effect.provide(layer())))

  it.live("a prompt_cache_key that cannot be a header (CRLF, 100 KB): 400 naming it; a good one is forwarded", () =>
    Effect.gen(function*() {
      for (const key of ["a\r\nx-injected: 1", "k".repeat(100_000), "", " padded "]) {
        for (const [path, body] of [
          ["/v1/chat/completions", { model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], prompt_cache_key: key }],
          ["/v1/responses", { model: "gpt-5.5", input: "hi", prompt_cache_key: key }]
        ] as const) {
          const response = yield* fetchProxy(path, { method: "POST", headers: authorized, body: JSON.stringify(body) })
          assert.strictEqual(response.status, 400, `${path} ${JSON.stringify(key.slice(0, 20))}`)
          const error = (yield* Effect.promise(() => response.json())).error
          assert.strictEqual(error.param, "prompt_cache_key")
          assert.include(error.message, "visible ASCII")
        }
      }
      assert.lengthOf(yield* backendBodies, 0)
      const ok = yield* chat({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], prompt_cache_key: "conv 42" })
      assert.strictEqual(ok.status, 200)
      assert.strictEqual((yield* backendBodies)[0]!.prompt_cache_key, "conv 42")
    }).pipe(Effect.provide(layer())))
})
