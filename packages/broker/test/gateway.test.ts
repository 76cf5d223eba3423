/**
 * Session keys and the agent gateway, with the official `openai` client on
 * both engines: an agent holding only a session key and the broker's
 * `/gateway/v1` chats and uses Responses, streamed and not, with its user's
 * subscription (the fake backend sees that user's account and token); an
 * expired or revoked key is 401; a key of user A never reaches user B's
 * subscription; the usage windows seen become the connection's snapshot; a
 * usage limit is OpenAI's 429 and an audit row; use is audited as counts.
 */
import { assert, it } from "@effect/vitest"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, FiberRef, HashSet, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import OpenAI from "openai"
import { SqlClient } from "@effect/sql"
import { request } from "node:http"
import * as BrokerServer from "../src/BrokerServer.js"
import * as SessionKeys from "../src/SessionKeys.js"
import { brokerLayer, call, connectByDevice, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

const ALICE = { ...FakeOAuthServer.defaultAccount, accountId: "aaaaaaaa-2222-4333-8444-555555555555", email: "alice@example.com" }
const BOB = { ...FakeOAuthServer.defaultAccount, accountId: "bbbbbbbb-2222-4333-8444-555555555555", email: "bob@example.com" }

/** A broker whose backend is the fake Codex backend, on the same fake issuer. */
const gatewayLayer = (engine: Engine, logging?: Layer.Layer<never>) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const issuer = yield* FakeOAuthServer.make({ deviceInterval: "1", devicePendingPolls: 1 })
    const backend = yield* FakeCodexBackend.make({
      respond: (body) => ({ items: [FakeCodexBackend.message(`echo: ${JSON.stringify(body.input).length} bytes`)] })
    }).pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, issuer))
    return brokerLayer(engine, {
      issuer,
      broker: { backend: { baseUrl: backend.baseUrl, originator: "codex_cli_rs" } },
      ...(logging !== undefined ? { logging } : {})
    }).pipe(
      Layer.provideMerge(Layer.succeed(FakeCodexBackend.FakeCodexBackend, backend))
    )
  }))

const connectAs = (key: Redacted.Redacted<string>, userId: string, account: typeof ALICE) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.FakeOAuthServer
    yield* oauth.configure({ account })
    return yield* connectByDevice(key, userId)
  })

const sessionKey = (key: Redacted.Redacted<string>, userId: string, label = "agent run", ttl = 3600) =>
  Effect.gen(function*() {
    const created = yield* call("POST", `/v1/users/${userId}/sessions`, { key, body: { label, ttl_seconds: ttl } })
    assert.strictEqual(created.status, 201, created.text)
    return created.body as { id: string; key: string; base_url: string; expires_at: string }
  })

const client = (baseURL: string, apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0 })

const accountOf = (request: { readonly headers: ReadonlyArray<readonly [string, string]> }) =>
  request.headers.find(([name]) => name === "chatgpt-account-id")?.[1]

forEachEngine("gateway", (engine: Engine) => {
  it.live("an agent with only a session key chats and uses Responses, streamed and not, as its user", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const { url } = yield* BrokerServer.BrokerServer
      const { key } = yield* tenant()
      yield* connectAs(key, "alice", ALICE)
      // Tell the app when a usage window reaches 30 % (the fake backend reports 12.5 % and 40 %).
      const hook = yield* call("PUT", "/v1/webhook", { key, body: { url: "http://127.0.0.1:9/hooks", usage_threshold_percent: 30 } })
      assert.strictEqual(hook.status, 200, hook.text)
      const session = yield* sessionKey(key, "alice")
      assert.match(session.key, /^sas_[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(session.base_url, `${url}/gateway/v1`)
      const openai = client(session.base_url, session.key)

      const chat = yield* Effect.promise(() => openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] }))
      assert.match(chat.choices[0]!.message.content ?? "", /^echo: /)
      const streamed = yield* Effect.promise(async () => {
        let text = ""
        const stream = await openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true })
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        return text
      })
      assert.match(streamed, /^echo: /)
      const response = yield* Effect.promise(() => openai.responses.create({ model: "gpt-5.5", input: "hi" }))
      assert.match(response.output_text, /^echo: /)
      const events = yield* Effect.promise(async () => {
        const seen: Array<string> = []
        const stream = await openai.responses.create({ model: "gpt-5.5", input: "hi", stream: true })
        for await (const event of stream) seen.push(event.type)
        return seen
      })
      assert.include(events, "response.output_text.delta")
      assert.strictEqual(events.at(-1), "response.completed", events.join(","))
      const models = yield* Effect.promise(() => openai.models.list())
      assert.isAbove(models.data.length, 0)
      // The same proxy's usage route and headers: alice's limits, asked with alice's sign-in.
      yield* backend.setUsage({ primary: { usedPercent: 12.5, windowMinutes: 300, resetsInSeconds: 3600 }, secondary: { usedPercent: 40, windowMinutes: 10080 }, plan: "plus" })
      const usage = yield* Effect.promise(async () => {
        const answer = await fetch(`${session.base_url}/usage`, { headers: { authorization: `Bearer ${session.key}` } })
        return { status: answer.status, header: answer.headers.get("x-codex-primary-used-percent"), body: await answer.json() as { plan: string; primary: { usedPercent: number } } }
      })
      assert.strictEqual(usage.status, 200)
      assert.strictEqual(usage.body.plan, "plus")
      assert.strictEqual(usage.body.primary.usedPercent, 12.5)
      assert.strictEqual(usage.header, "12.5")
      const asked = (yield* backend.requests).filter((r) => r.endpoint === "usage")
      assert.lengthOf(asked, 1)
      assert.strictEqual(accountOf(asked[0]!), ALICE.accountId)

      // The backend saw alice's account, with a token the issuer gave alice.
      const turns = (yield* backend.requests).filter((r) => r.endpoint === "responses")
      assert.lengthOf(turns, 4)
      for (const turn of turns) assert.strictEqual(accountOf(turn), ALICE.accountId)

      // The usage windows of the last answer are the connection's snapshot.
      const connection = yield* call("GET", "/v1/users/alice/connection", { key })
      assert.strictEqual(connection.body.usage.primary.used_percent, 12.5)
      assert.strictEqual(connection.body.usage.primary.window_minutes, 300)
      assert.strictEqual(connection.body.usage.secondary.used_percent, 40)
      assert.isString(connection.body.usage.observed_at)
      const deliveries = yield* call("GET", "/v1/webhook/deliveries", { key })
      const crossed = deliveries.body.deliveries.filter((d: { event: string }) => d.event === "usage.threshold")
      assert.lengthOf(crossed, 1, deliveries.text)
      assert.strictEqual(crossed[0].user_id, "alice")
    }).pipe(Effect.provide(gatewayLayer(engine))))

  it.live("an unknown, expired or revoked key is 401 in OpenAI's format; a key of user A never reaches user B's subscription", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const sql = yield* SqlClient.SqlClient
      const { url } = yield* BrokerServer.BrokerServer
      const { key } = yield* tenant()
      yield* connectAs(key, "alice", ALICE)
      yield* connectAs(key, "bob", BOB)
      const a = yield* sessionKey(key, "alice")
      const b = yield* sessionKey(key, "bob")
      const ask = (apiKey: string) =>
        Effect.promise(() =>
          client(`${url}/gateway/v1`, apiKey).chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "whose?" }] })
            .then(() => 200, (error: unknown) => (error instanceof OpenAI.APIError ? error : Promise.reject(error)))
        )

      // Interleaved: every request goes out with its own key's user.
      yield* backend.clearRequests
      const order = ["a", "b", "a", "a", "b", "b", "a", "b"] as const
      yield* Effect.forEach(order, (who) => ask(who === "a" ? a.key : b.key), { concurrency: "unbounded" })
      const turns = (yield* backend.requests).filter((r) => r.endpoint === "responses")
      assert.lengthOf(turns, order.length)
      const accounts = turns.map(accountOf).sort()
      assert.deepStrictEqual(accounts, [...Array(4).fill(ALICE.accountId), ...Array(4).fill(BOB.accountId)].sort())
      // And one by one: each request with exactly its key's user.
      for (const who of order) {
        yield* backend.clearRequests
        assert.strictEqual(yield* ask(who === "a" ? a.key : b.key), 200)
        const [turn] = (yield* backend.requests).filter((r) => r.endpoint === "responses")
        assert.strictEqual(accountOf(turn!), who === "a" ? ALICE.accountId : BOB.accountId)
      }

      const bare = yield* Effect.promise(() => fetch(`${url}/gateway/v1/models`).then(async (r) => ({ status: r.status, body: await r.json() })))
      assert.strictEqual(bare.status, 401)
      assert.strictEqual(bare.body.error.code, "invalid_api_key")
      for (const wrong of ["sas_" + "x".repeat(43), "sab_" + "x".repeat(43), "not-a-key"]) {
        const refused = yield* ask(wrong)
        assert.instanceOf(refused, OpenAI.AuthenticationError, wrong)
        assert.strictEqual((refused as InstanceType<typeof OpenAI.APIError>).code, "invalid_api_key")
      }
      // The tenant's own API key is not a session key.
      assert.instanceOf(yield* ask(Redacted.value(key)), OpenAI.AuthenticationError)

      // Revoked: refused at once.
      const revoked = yield* call("DELETE", `/v1/sessions/${a.id}`, { key })
      assert.strictEqual(revoked.status, 200, revoked.text)
      assert.isString(revoked.body.revoked_at)
      assert.instanceOf(yield* ask(a.key), OpenAI.AuthenticationError)
      assert.strictEqual(yield* ask(b.key), 200)
      assert.strictEqual((yield* call("DELETE", `/v1/sessions/${a.id}`, { key })).status, 200)
      assert.strictEqual((yield* call("DELETE", "/v1/sessions/sk_nope", { key })).status, 404)

      // Expired: a key whose time is up is refused (its expiry moved to the past, as time would).
      const c = yield* sessionKey(key, "bob", "short", 60)
      yield* sql`UPDATE session_keys SET expires_at = 1 WHERE id = ${c.id}`
      assert.instanceOf(yield* ask(c.key), OpenAI.AuthenticationError)

      // Another tenant cannot see or revoke these keys.
      const other = yield* tenant("other app")
      assert.strictEqual((yield* call("DELETE", `/v1/sessions/${b.id}`, { key: other.key })).status, 404)
      assert.lengthOf((yield* call("GET", "/v1/users/bob/sessions", { key: other.key })).body.sessions, 0)
      assert.strictEqual(yield* ask(b.key), 200)
    }).pipe(Effect.provide(gatewayLayer(engine))))

  it.live("keys: listed without secrets, for connected users only, at most a day; use audited as counts; a usage limit is 429 and audited", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const keys = yield* SessionKeys.SessionKeys
      const { url } = yield* BrokerServer.BrokerServer
      const { key } = yield* tenant()
      for (const [body, status] of [[{ label: "x", ttl_seconds: 86_401 }, 400], [{ label: "x", ttl_seconds: 59 }, 400], [{ label: "", ttl_seconds: 600 }, 400]] as const) {
        yield* connectAs(key, "carol", ALICE)
        const refused = yield* call("POST", "/v1/users/carol/sessions", { key, body })
        assert.strictEqual(refused.status, status, JSON.stringify(body))
      }
      const nobody = yield* call("POST", "/v1/users/nobody/sessions", { key, body: { label: "x", ttl_seconds: 600 } })
      assert.strictEqual(nobody.status, 404)
      assert.strictEqual(nobody.body.error.code, "not_connected")

      const session = yield* sessionKey(key, "carol", "nightly job")
      const openai = client(`${url}/gateway/v1`, session.key)
      for (let i = 0; i < 3; i++) yield* Effect.promise(() => openai.responses.create({ model: "gpt-5.5", input: "hi" }))
      yield* backend.inject({ endpoint: "responses", fault: FakeCodexBackend.usageLimit({ resetsAt: 1_900_000_000, resetsInSeconds: 3600 }) })
      const limited = yield* Effect.promise(() => openai.responses.create({ model: "gpt-5.5", input: "hi" }).then(() => undefined, (e: unknown) => e))
      assert.instanceOf(limited, OpenAI.RateLimitError)
      yield* backend.clearFaults
      yield* keys.flush

      const list = yield* call("GET", "/v1/users/carol/sessions", { key })
      assert.strictEqual(list.status, 200)
      const listed = list.body.sessions.find((s: { id: string }) => s.id === session.id)
      assert.strictEqual(listed.label, "nightly job")
      assert.strictEqual(listed.uses, 4)
      assert.isString(listed.last_used_at)
      assert.notInclude(list.text, session.key)

      const audit = yield* call("GET", "/v1/audit?user_id=carol", { key })
      const events = audit.body.events as Array<{ event: string; detail: Record<string, unknown> }>
      assert.deepStrictEqual(events.filter((e) => e.event === "session_key.created").map((e) => e.detail.label), ["nightly job"])
      const used = events.filter((e) => e.event === "session_key.used")
      assert.lengthOf(used, 1, "one row for the four requests")
      assert.strictEqual(used[0]!.detail.count, 4)
      const limit = events.filter((e) => e.event === "usage.limit_reached")
      assert.lengthOf(limit, 1)
      assert.strictEqual(limit[0]!.detail.reason, "UsageLimitReached")
      assert.notInclude(audit.text, session.key)
      assert.isTrue(Option.isNone(Option.fromNullable(events.find((e) => JSON.stringify(e).includes("sas_")))))
    }).pipe(Effect.provide(gatewayLayer(engine))))

  const lines: Array<string> = []
  const collecting = Layer.merge(
    Layer.locallyScoped(FiberRef.currentLoggers, HashSet.make(Logger.map(Logger.logfmtLogger, (line) => void lines.push(line)))),
    Logger.minimumLogLevel(LogLevel.All)
  )

  it.live("no session key and no OpenAI token in the logs (at debug), any column, the audit trail or the gateway's answers", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const keys = yield* SessionKeys.SessionKeys
      const { key } = yield* tenant()
      yield* connectAs(key, "dora", ALICE)
      const session = yield* sessionKey(key, "dora")
      const openai = client(session.base_url, session.key)
      const answers: Array<string> = []
      answers.push(JSON.stringify(yield* Effect.promise(() => openai.responses.create({ model: "gpt-5.5", input: "hi" }))))
      answers.push(JSON.stringify(yield* Effect.promise(() => openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] }))))
      const refused = yield* Effect.promise(() =>
        fetch(`${session.base_url}/models`, { headers: { authorization: `Bearer ${session.key.slice(0, -1)}A` } }).then((r) => r.text())
      )
      answers.push(refused)
      yield* keys.flush
      yield* call("DELETE", `/v1/sessions/${session.id}`, { key })
      // Every access token the backend was sent, and the session key.
      const secrets = new Set<string>([session.key])
      for (const request of yield* backend.requests) {
        const authorization = request.headers.find(([name]) => name === "authorization")?.[1]
        if (authorization !== undefined) secrets.add(authorization.replace(/^Bearer /, ""))
      }
      assert.isAbove(secrets.size, 1)
      const scanned: Array<[string, string]> = [
        ...lines.map((line, i): [string, string] => [`log line ${i}`, line]),
        ...answers.map((text, i): [string, string] => [`answer ${i}`, text])
      ]
      for (const table of ["session_keys", "connections", "audit"]) {
        scanned.push([`table ${table}`, JSON.stringify(yield* sql`SELECT * FROM ${sql(table)}`)])
      }
      for (const [where, text] of scanned) {
        for (const value of secrets) {
          assert.notInclude(text, value, `${where} holds a secret`)
          assert.notInclude(text, value.slice(0, 24), `${where} holds the start of a secret`)
        }
      }
      assert.isAbove(lines.length, 5)
    }).pipe(Effect.provide(gatewayLayer(engine, collecting))))

  it.live("agents that vanish mid-answer leave nothing open: the backend's streams close, the next request is answered, the broker stops", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(gatewayLayer(engine))
      yield* Effect.gen(function*() {
        const backend = yield* FakeCodexBackend.FakeCodexBackend
        const { key } = yield* tenant()
        yield* connectAs(key, "alice", ALICE)
        const session = yield* sessionKey(key, "alice")
        const slow: FakeCodexBackend.Answer = { items: [FakeCodexBackend.message("word ".repeat(400), { chunks: 400 })], eventDelay: "10 millis" }
        const vanishing = 24
        yield* backend.enqueue(...Array.from({ length: vanishing }, () => slow))
        // Half streamed, half not; each connection is destroyed once the gateway has begun to answer or after 300 ms.
        yield* Effect.promise(() =>
          Promise.all(Array.from({ length: vanishing }, (_, i) =>
            new Promise<void>((resolve) => {
              const body = JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "talk" }], stream: i % 2 === 0 })
              const req = request(`${session.base_url}/chat/completions`, {
                method: "POST",
                headers: { authorization: `Bearer ${session.key}`, "content-type": "application/json" }
              })
              const vanish = () => {
                req.destroy()
                resolve()
              }
              req.on("response", (res) => res.once("data", vanish))
              req.on("error", () => resolve())
              setTimeout(vanish, 300)
              req.end(body)
            })
          ))
        )
        let streams = yield* backend.streams
        for (let i = 0; i < 250 && streams.open > 0; i++) {
          yield* Effect.sleep("20 millis")
          streams = yield* backend.streams
        }
        assert.strictEqual(streams.open, 0, JSON.stringify(streams))
        assert.strictEqual(streams.finished, 0, JSON.stringify(streams))
        assert.isAbove(streams.started, 0)
        // Requests that vanished before the gateway forwarded them left their scripted answers: the next one gets one.
        const openai = client(session.base_url, session.key)
        const chat = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true }).then(async (stream) => {
            let text = ""
            for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
            return text
          })
        )
        assert.match(chat, /^(echo: |word )/)
      }).pipe(Effect.provide(context))
    }).pipe(
      Effect.scoped,
      // The broker's scope closes (its server drains) well within the test's time.
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the broker did not stop within 20 s") })
    ))
})
