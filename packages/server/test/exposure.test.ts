/**
 * Who can reach the proxy: loopback only unless remote access is asked for
 * with a strong key; no CORS headers unless origins are configured.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend } from "@subauth/testing"
import { Effect, Either, Layer, Redacted } from "effect"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, fetchProxy, KEY, layer } from "./support.js"

const strong = Redacted.make("k".repeat(32))
const weak = Redacted.make("short-key")

describe("exposure", () => {
  it("isLoopback: only addresses that stay on this machine", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"]) {
      assert.isTrue(OpenAIProxy.isLoopback(host), host)
    }
    for (const host of ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "128.0.0.1", "localhost.evil.com", ""]) {
      assert.isFalse(OpenAIProxy.isLoopback(host), host)
    }
  })

  it("checkExposure: a non-loopback host needs allow-remote and a strong key", () => {
    const reason = (options: Parameters<typeof OpenAIProxy.checkExposure>[0]) =>
      Either.match(OpenAIProxy.checkExposure(options), { onLeft: (e) => e.reason, onRight: () => "ok" })
    assert.strictEqual(reason({ apiKey: weak }), "ok")
    assert.strictEqual(reason({ apiKey: weak, host: "localhost" }), "ok")
    assert.strictEqual(reason({ apiKey: strong, host: "0.0.0.0" }), "RemoteNotAllowed")
    assert.strictEqual(reason({ apiKey: strong, host: "0.0.0.0", network: "loopback-only" }), "RemoteNotAllowed")
    assert.strictEqual(reason({ apiKey: weak, host: "0.0.0.0", network: "allow-remote" }), "WeakKey")
    assert.strictEqual(reason({ apiKey: strong, host: "0.0.0.0", network: "allow-remote" }), "ok")
    assert.strictEqual(reason({ apiKey: Redacted.make("has space") }), "InvalidKey")
    assert.strictEqual(reason({ apiKey: Redacted.make("") }), "InvalidKey")
  })

  it.live("make refuses 0.0.0.0 without allow-remote, and binds nothing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(OpenAIProxy.make({ apiKey: strong, host: "0.0.0.0", port: 0 })))
      assert.strictEqual(error.reason, "RemoteNotAllowed")
      assert.include(error.message, "--allow-remote")
      assert.include(error.message, "0.0.0.0:0")
      const weakError = yield* Effect.flip(
        Effect.scoped(OpenAIProxy.make({ apiKey: weak, host: "0.0.0.0", port: 0, network: "allow-remote" }))
      )
      assert.strictEqual(weakError.reason, "WeakKey")
    }).pipe(Effect.provide(FakeCodexBackend.layerTest().pipe(Layer.orDie))))

  it.live("a port in use: AddressInUse, saying what to do", () =>
    Effect.gen(function*() {
      const first = yield* OpenAIProxy.OpenAIProxy
      const error = yield* Effect.flip(Effect.scoped(OpenAIProxy.make({ apiKey: KEY, port: first.port })))
      assert.strictEqual(error.reason, "AddressInUse")
      assert.include(error.message, `127.0.0.1:${first.port} is already in use; choose another port with --port`)
    }).pipe(Effect.provide(layer())))
})

describe("CORS", () => {
  const preflight = {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:3000",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type"
    }
  }
  const models = { headers: { ...authorized, origin: "http://localhost:3000" } }

  it.live("off by default: no CORS header on a preflight or an answer", () =>
    Effect.gen(function*() {
      const options = yield* fetchProxy("/v1/chat/completions", preflight)
      assert.notStrictEqual(options.status, 204)
      assert.isNull(options.headers.get("access-control-allow-origin"))
      const answer = yield* fetchProxy("/v1/models", models)
      assert.strictEqual(answer.status, 200)
      assert.isNull(answer.headers.get("access-control-allow-origin"))
    }).pipe(Effect.provide(layer())))

  it.live("configured origins: preflight answered without a key, answers carry the origin", () =>
    Effect.gen(function*() {
      const options = yield* fetchProxy("/v1/chat/completions", preflight)
      assert.strictEqual(options.status, 204)
      assert.strictEqual(options.headers.get("access-control-allow-origin"), "http://localhost:3000")
      const answer = yield* fetchProxy("/v1/models", models)
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers.get("access-control-allow-origin"), "http://localhost:3000")
      const other = yield* fetchProxy("/v1/models", { headers: { ...authorized, origin: "http://evil.example" } })
      assert.isNull(other.headers.get("access-control-allow-origin"))
      // The key is still required.
      const anonymous = yield* fetchProxy("/v1/models", { headers: { origin: "http://localhost:3000" } })
      assert.strictEqual(anonymous.status, 401)
    }).pipe(Effect.provide(layer({ cors: ["http://localhost:3000", "http://127.0.0.1:5173"] }))))
})
