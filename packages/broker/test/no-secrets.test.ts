/**
 * No secret ever leaves where it belongs. A test that knows every secret of
 * a whole run — every access, refresh and id token the issuer minted for the
 * broker, every device id, authorization code and PKCE verifier, the API keys,
 * the master key and the data keys, the webhook's secrets — runs connects
 * (device and paste), refreshes, a reused refresh token, sign-out and erasure
 * with debug logging and a webhook receiving every event, then looks for each
 * secret in every log line, every database column (webhook deliveries
 * included), every audit row, every HTTP answer and every webhook request.
 * The allowed places: the `access_token` of a token answer, and the `secret`
 * of the webhook answer that made it.
 */
import { assert, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, HashSet, Layer, Logger, LogLevel, Option, Redacted, FiberRef } from "effect"
import * as MasterKey from "../src/MasterKey.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import { type Answer, brokerLayer, call, connectByDevice, tenant } from "./harness.js"
import { eventually, receiver } from "./receiver.js"
import { type Engine, forEachEngine, masterKeys } from "./support.js"

const TABLES = [
  "broker_meta",
  "tenants",
  "api_keys",
  "connections",
  "leases",
  "consents",
  "connect_sessions",
  "audit",
  "webhooks",
  "webhook_deliveries"
]

forEachEngine("no secrets in output", (engine: Engine) => {
  const lines: Array<string> = []
  const keys = masterKeys()
  const collecting = Layer.merge(
    Layer.locallyScoped(
      FiberRef.currentLoggers,
      HashSet.make(Logger.map(Logger.logfmtLogger, (line) => void lines.push(line)))
    ),
    Logger.minimumLogLevel(LogLevel.All)
  )

  it.live("a whole run: no known secret in logs, columns, audit rows, answers or webhook requests (but the issued access token and the shown webhook secret)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const secrets = new Set<string>()
      const answers: Array<Answer> = []
      const add = (value: string | undefined) => {
        if (value !== undefined && value.length >= 8) secrets.add(value)
      }
      const record = (answer: Answer) => {
        answers.push(answer)
        return answer
      }
      const app = yield* tenant()
      add(Redacted.value(app.key))
      // A webhook hears everything; its secret is made, then rotated.
      const hooks = yield* receiver()
      const configured = record(yield* call("PUT", "/v1/webhook", { key: app.key, body: { url: hooks.url, usage_threshold_percent: 50 } }))
      add(configured.body.secret)
      // The row as it was before the rotation overwrote it.
      const firstWebhookRow = JSON.stringify(yield* sql`SELECT * FROM webhooks`)
      const rotated = record(yield* call("POST", "/v1/webhook/rotate-secret", { key: app.key }))
      add(rotated.body.secret)
      const shownSecrets = new Set([configured.body.secret as string, rotated.body.secret as string])
      const store = yield* SqlTokenStore.make({ tenantId: app.id })
      const collectTokens = (userId: string) =>
        Effect.map(store.get(userId), Option.map((tokens: TokenSet.TokenSet) => {
          add(Redacted.value(tokens.accessToken))
          Option.map(tokens.refreshToken, (t) => add(Redacted.value(t)))
          Option.map(tokens.idToken, (t) => add(Redacted.value(t)))
        }))

      // Device connect, tokens, a refresh (asked for with min_ttl), sign-out.
      yield* connectByDevice(app.key, "alice")
      yield* collectTokens("alice")
      record(yield* call("POST", "/v1/users/alice/token", { key: app.key, body: { label: "run" } }))
      record(yield* call("POST", "/v1/users/alice/token", { key: app.key, body: { min_ttl_seconds: 3599 } }))
      yield* collectTokens("alice")
      record(yield* call("GET", "/v1/users/alice/connection", { key: app.key }))

      // Paste connect.
      const paste = record(yield* call("POST", "/v1/connect-sessions", { key: app.key, body: { user_id: "bob", method: "paste", accept_terms: true } }))
      const pasted = yield* Effect.promise(() => fetch(paste.body.paste.authorize_url, { redirect: "manual" }).then((r) => r.headers.get("location") ?? ""))
      record(yield* call("POST", `/v1/connect-sessions/${paste.body.id}/redirect`, { key: app.key, body: { url: pasted } }))
      yield* collectTokens("bob")

      // A sign-in whose refresh token someone else spent.
      const minted = yield* oauth.issueTokens()
      add(Redacted.value(minted.accessToken))
      add(Redacted.value(Option.getOrThrow(minted.refreshToken)))
      add(Redacted.value(Option.getOrThrow(minted.idToken)))
      yield* store.set("carol", new TokenSet.TokenSet({ ...minted, expiresAt: DateTime.unsafeMake(Date.now() + 1000) }))
      yield* Effect.promise(() =>
        fetch(`${oauth.url}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: oauth.clientId, grant_type: "refresh_token", refresh_token: Redacted.value(Option.getOrThrow(minted.refreshToken)) })
        })
      )
      record(yield* call("POST", "/v1/users/carol/token", { key: app.key, body: { rejected_access_token: Redacted.value(minted.accessToken) } }))

      record(yield* call("DELETE", "/v1/users/alice/connection", { key: app.key }))
      record(yield* call("DELETE", "/v1/users/bob", { key: app.key }))
      record(yield* call("GET", "/v1/audit?limit=500", { key: app.key }))
      record(yield* call("GET", "/v1/audit?user_id=alice", { key: app.key }))
      // connected (alice; bob's went with his erasure unless it was sent before), reauth_required, revoked ×2 (sign-out,
      // erasure): wait for the deliverer.
      yield* eventually(() => hooks.received.length >= 4)
      record(yield* call("GET", "/v1/webhook/deliveries", { key: app.key }))
      record(yield* call("GET", "/v1/webhook", { key: app.key }))

      // Every secret the issuer saw from the broker: device ids, codes, verifiers, refresh tokens.
      for (const request of yield* oauth.requests) {
        for (const [name, value] of request.fields) {
          if (["device_auth_id", "code", "code_verifier", "refresh_token", "token", "subject_token"].includes(name)) add(value)
        }
      }
      // The master key and the data keys it wraps.
      add(Redacted.value(MasterKey.format(keys)).trim())
      for (const key of [keys.current, ...keys.previous]) {
        add(Buffer.from(Redacted.value(key)).toString("base64"))
        add(Buffer.from(Redacted.value(key)).toString("base64url"))
        add(Buffer.from(Redacted.value(key)).toString("hex"))
      }
      assert.isAbove(secrets.size, 15)

      const issued = new Set(answers.filter((a) => a.body?.access_token !== undefined).map((a) => a.body.access_token as string))
      const scanned: Array<[string, string]> = [
        ...lines.map((line, i): [string, string] => [`log line ${i}`, line]),
        ...answers.map((a, i): [string, string] => {
          const { access_token: _, secret: __, ...rest } = (a.body ?? {}) as Record<string, unknown>
          return [`answer ${i}`, `${JSON.stringify([...a.headers])} ${JSON.stringify(rest)}`]
        }),
        ...hooks.received.map((r, i): [string, string] => [`webhook request ${i}`, `${JSON.stringify(r.headers)} ${r.body}`]),
        ["table webhooks before the rotation", firstWebhookRow]
      ]
      for (const table of TABLES) scanned.push([`table ${table}`, JSON.stringify(yield* sql`SELECT * FROM ${sql(table)}`)])
      for (const [where, text] of scanned) {
        for (const value of secrets) {
          if ((issued.has(value) || shownSecrets.has(value)) && where.startsWith("answer")) continue
          assert.notInclude(text, value, `${where} holds a secret`)
          assert.notInclude(text, value.slice(0, 24), `${where} holds the start of a secret`)
        }
      }
      assert.isAbove(lines.length, 20)
      assert.deepStrictEqual(
        [...new Set(hooks.received.map((r) => r.headers["subauth-event"]))].sort(),
        ["connection.connected", "connection.reauth_required", "connection.revoked"]
      )
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { keys, logging: collecting }))))
})
