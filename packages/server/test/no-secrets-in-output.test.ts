/**
 * The proxy with every log level on: answers, dropped parameters, a wrong key,
 * a token the backend revokes (401 recovery and a refresh), a backend error
 * that echoes the token, a usage limit, a stream that fails half-way. No piece
 * of the proxy's key, a wrong key, or any token appears in a log line, a
 * response body or a response header.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore } from "@subauth/core"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, fetchProxy, KEY } from "./support.js"

const lines: Array<string> = []
const logging = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))),
  Logger.minimumLogLevel(LogLevel.All)
)

const proxy = OpenAIProxy.layer({ apiKey: KEY, port: 0 }).pipe(
  Layer.provideMerge(FakeCodexBackend.layerTest()),
  Layer.orDie,
  Layer.provide(logging)
)

const WRONG_KEY = "sk-subauth-wrong-key-that-must-not-be-logged-0123456789"

describe("secrets never reach output (proxy)", () => {
  it.live("no key or token in logs, bodies or headers", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const store = yield* TokenStore.TokenStore
      const printed: Array<string> = []
      const send = (path: string, body: unknown, headers: Record<string, string> = authorized) =>
        Effect.gen(function*() {
          const response = yield* fetchProxy(path, { method: "POST", headers, body: JSON.stringify(body) })
          printed.push(JSON.stringify([...response.headers]), yield* Effect.promise(() => response.text()))
          return response.status
        })
      const chat = (content: string, extra: Record<string, unknown> = {}) =>
        send("/v1/chat/completions", { model: "gpt-5.5", messages: [{ role: "user", content }], temperature: 1, ...extra })

      const before = Option.getOrThrow(yield* store.get("default"))
      assert.strictEqual(yield* chat("hi"), 200)
      assert.strictEqual(yield* chat("hi", { stream: true }), 200)
      assert.strictEqual(yield* send("/v1/chat/completions", {}, { ...authorized, authorization: `Bearer ${WRONG_KEY}` }), 401)

      // The backend revokes the token: 401, recovery, a refresh, the request again.
      yield* backend.rejectAccessToken(Redacted.value(before.accessToken))
      assert.strictEqual(yield* send("/v1/responses", { model: "gpt-5.5", input: "again", stream: true }), 200)

      const after = Option.getOrThrow(yield* store.get("default"))
      const token = Redacted.value(after.accessToken)
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(400, { detail: `bad token ${token}` }), calls: [1] })
      assert.strictEqual(yield* chat("echo"), 400)
      yield* backend.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1_900_000_000, resetsInSeconds: 60 }), calls: [1] })
      assert.strictEqual(yield* chat("limit", { stream: true }), 429)
      yield* backend.enqueue({ items: [FakeCodexBackend.message("half")], ending: FakeCodexBackend.failed("server_error", `oops ${token}`) })
      assert.strictEqual(yield* chat("fail", { stream: true }), 200)

      const secrets = [
        Redacted.value(KEY),
        WRONG_KEY,
        ...[before, after].flatMap((t) => [
          Redacted.value(t.accessToken),
          ...Option.toArray(Option.map(t.refreshToken, Redacted.value)),
          ...Option.toArray(Option.map(t.idToken, Redacted.value))
        ])
      ]
      assert.isAbove(lines.length, 10)
      assert.isTrue(lines.some((l) => l.includes("dropped \\\"temperature\\\"")), "dropped parameters are debug-logged")
      assert.isTrue(printed.some((p) => p.includes("bad token <redacted>")), "the echoed token was scrubbed")
      const all = [...lines, ...printed].join("\n")
      for (const secret of secrets) {
        for (let i = 0; i + 24 <= secret.length; i += 12) assert.notInclude(all, secret.slice(i, i + 24))
      }
    }).pipe(Effect.provide(proxy)))
})
