/**
 * The HTTP edges: keys, bad input, limits, request ids, health, readiness and
 * the OpenAPI document. A client's mistake is a 4xx with a JSON error that
 * says what to fix, never a 500 and never a stack trace.
 */
import { assert, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Redacted } from "effect"
import { request as httpRequest } from "node:http"
import * as BrokerServer from "../src/BrokerServer.js"
import * as Tenants from "../src/Tenants.js"
import { brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

forEachEngine("API edges", (engine: Engine) => {
  it.live("keys: none, unknown, malformed and revoked are 401; a second key works; revoking takes effect at once", () =>
    Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const { id, key } = yield* tenant()
      const none = yield* call("GET", "/v1/users/alice/connection")
      assert.strictEqual(none.status, 401)
      assert.strictEqual(none.body.error.code, "unauthorized")
      for (const wrong of ["sab_" + "A".repeat(43), "not-a-key", "Bearer", "sab_short"]) {
        const answer = yield* call("GET", "/v1/users/alice/connection", { key: wrong })
        assert.strictEqual(answer.status, 401, wrong)
        assert.include(answer.body.error.message, "unknown or revoked")
      }
      const basic = yield* call("GET", "/v1/users/alice/connection", { headers: { authorization: "Basic YTpi" } })
      assert.strictEqual(basic.status, 401)
      const second = yield* tenants.createKey(id, "ci")
      assert.strictEqual((yield* call("GET", "/v1/users/alice/connection", { key: second.secret })).status, 200)
      yield* tenants.revokeKey(second.id)
      assert.strictEqual((yield* call("GET", "/v1/users/alice/connection", { key: second.secret })).status, 401)
      assert.strictEqual((yield* call("GET", "/v1/users/alice/connection", { key })).status, 200)
      // Only the hash of a key is stored.
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`SELECT * FROM api_keys`
      assert.notInclude(JSON.stringify(rows), Redacted.value(second.secret))
      assert.notInclude(JSON.stringify(rows), Redacted.value(key))
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("bad input is a 400 that says what is wrong", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const cases: Array<[string, string, unknown]> = [
        ["POST", "/v1/connect-sessions", "{not json"],
        ["POST", "/v1/connect-sessions", { user_id: "a", method: "carrier-pigeon" }],
        ["POST", "/v1/connect-sessions", { method: "device" }],
        ["POST", "/v1/connect-sessions", { user_id: "../etc/passwd", method: "device" }],
        ["POST", "/v1/connect-sessions", { user_id: "alice@example.com", method: "device" }],
        ["POST", "/v1/connect-sessions", { user_id: "x".repeat(65), method: "device" }],
        ["POST", "/v1/users/alice/token", { min_ttl_seconds: "10" }],
        ["POST", "/v1/users/alice/token", { label: "x".repeat(101) }],
        ["GET", "/v1/users/a%20b/connection", undefined],
        ["GET", "/v1/audit?limit=abc", undefined],
        ["GET", "/v1/audit?after=-1", undefined],
        ["DELETE", "/v1/users/alice/connection?revoke=maybe", undefined]
      ]
      for (const [method, path, body] of cases) {
        const answer = yield* call(method, path, { key, body })
        assert.strictEqual(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`)
        assert.isString(answer.body.message ?? answer.body.error?.message)
        assert.notInclude(answer.text, "    at ")
      }
      const invalidUser = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "alice@example.com", method: "device" } })
      assert.include(invalidUser.body.error.message, "user_id")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("limits: a body over 64 KB is 413, unknown routes a JSON 404, pending sessions per user 429", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const big = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "a", method: "device", pad: "x".repeat(70_000) } })
      assert.strictEqual(big.status, 413)
      assert.strictEqual(big.body.error.code, "payload_too_large")
      const unknown = yield* call("GET", "/v2/nothing", { key })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body.error.code, "not_found")
      for (let i = 0; i < 3; i++) {
        assert.strictEqual((yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "busy", method: "paste" } })).status, 201)
      }
      const fourth = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "busy", method: "paste" } })
      assert.strictEqual(fourth.status, 429)
      assert.strictEqual(fourth.body.error.code, "too_many_sessions")
      assert.strictEqual((yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "other", method: "paste" } })).status, 201)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a chunked body over the limit is refused", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const { url } = yield* BrokerServer.BrokerServer
      // No content-length: the limit must hold while reading.
      const status = yield* Effect.async<number>((resume) => {
        const request = httpRequest(`${url}/v1/connect-sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${Redacted.value(key)}`, "content-type": "application/json" }
        }, (response) => {
          response.resume()
          resume(Effect.succeed(response.statusCode ?? 0))
        })
        request.on("error", () => resume(Effect.succeed(-1)))
        request.write(`{"user_id":"a","method":"device","pad":"`)
        for (let i = 0; i < 50; i++) request.write("y".repeat(4096))
        request.end(`"}`)
      })
      // Refused with a 4xx, or the connection cut once the limit was passed.
      assert.isTrue(status === 413 || status === 400 || status === -1, `status ${status}`)
      assert.strictEqual((yield* call("GET", "/healthz")).status, 200)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("request ids: a caller's is echoed and audited, a bad one is replaced", () =>
    Effect.gen(function*() {
      const { key } = yield* tenant()
      const mine = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: "ida", method: "paste", accept_terms: true }, headers: { "x-request-id": "trace-123" } })
      assert.strictEqual(mine.headers.get("x-request-id"), "trace-123")
      const bad = yield* call("GET", "/v1/users/ida/connection", { key, headers: { "x-request-id": "a b;c<script>" } })
      assert.match(bad.headers.get("x-request-id") ?? "", /^req_[0-9a-f]{32}$/)
      const audit = yield* call("GET", "/v1/audit?user_id=ida", { key })
      assert.isTrue(audit.body.events.some((e: { request_id: string | null }) => e.request_id === "trace-123"))
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("healthz, readyz and the OpenAPI document need no key", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* call("GET", "/healthz")).body, { status: "ok" })
      assert.deepStrictEqual((yield* call("GET", "/readyz")).body, { status: "ready" })
      const openapi = yield* call("GET", "/openapi.json")
      assert.strictEqual(openapi.status, 200)
      assert.strictEqual(openapi.body.info.title, "subauth broker")
      for (const path of ["/v1/connect-sessions", "/v1/connect-sessions/{id}", "/v1/connect-sessions/{id}/redirect", "/v1/users/{user_id}/connection", "/v1/users/{user_id}/token", "/v1/users/{user_id}", "/v1/audit"]) {
        assert.property(openapi.body.paths, path)
      }
      // A database that is behind: not ready, saying what to run.
      const sql = yield* SqlClient.SqlClient
      yield* sql`DELETE FROM effect_sql_migrations`
      const notReady = yield* call("GET", "/readyz")
      assert.strictEqual(notReady.status, 503)
      assert.include(notReady.body.error.message, "subauth broker migrate")
    }).pipe(Effect.provide(brokerLayer(engine))))
})
