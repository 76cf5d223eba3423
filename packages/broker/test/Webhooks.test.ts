/**
 * Webhooks end to end, on both engines, with a real receiver on 127.0.0.1
 * that checks every signature and timestamp with the README's own
 * `verifyWebhook`: the configuration routes (the secret shown once, config
 * changes audited, bad URLs refused), each of the four events with its data,
 * a receiver that is down or answers 503 getting the event later, giving up
 * after the last attempt, the delivery log, the typed client's webhook
 * routes, two deliverers sharing one database sending each event once, and
 * the usage threshold crossed once per window.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect, Option, Redacted } from "effect"
import * as Api from "../src/BrokerApi.js"
import * as BrokerClient from "../src/BrokerClient.js"
import * as BrokerServer from "../src/BrokerServer.js"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import * as Webhooks from "../src/Webhooks.js"
import { verifyWebhook } from "./examples/broker-3.js"
import { brokerLayer, call, connectByDevice, tenant } from "./harness.js"
import { closedPort, eventually, type Receiver, receiver } from "./receiver.js"
import { type Engine, forEachEngine } from "./support.js"

// Deliveries looked for every 100 ms, retried after 200 to 400 ms.
const fast = { webhooks: { tick: "100 millis", retry: { base: "200 millis", max: "400 millis" } } } as const

const configure = (key: Redacted.Redacted<string>, url: string, threshold?: number) =>
  Effect.gen(function*() {
    const answer = yield* call("PUT", "/v1/webhook", { key, body: { url, ...(threshold !== undefined ? { usage_threshold_percent: threshold } : {}) } })
    assert.strictEqual(answer.status, 200, answer.text)
    assert.match(answer.body.secret, /^whsec_[A-Za-z0-9_-]{43}$/)
    return answer.body.secret as string
  })

// Every request the receiver got is signed with `secret`, fresh, and says in its headers what its body says.
const checkAll = (hooks: Receiver, secret: string, tenantId: string) => {
  assert.isAbove(hooks.received.length, 0)
  for (const request of hooks.received) {
    assert.isTrue(verifyWebhook(secret, request.body, request.headers["subauth-signature"], request.at), request.body)
    assert.strictEqual(request.headers["content-type"], "application/json")
    const body = JSON.parse(request.body)
    assert.deepStrictEqual(Object.keys(body).sort(), ["created_at", "data", "id", "tenant_id", "type"])
    assert.strictEqual(request.headers["subauth-event"], body.type)
    assert.strictEqual(request.headers["subauth-delivery"], body.id)
    assert.match(body.id, /^evt_[a-z0-9]{24}$/)
    assert.strictEqual(body.tenant_id, tenantId)
    assert.isFalse(Number.isNaN(Date.parse(body.created_at)))
  }
}

const spend = (refreshToken: string) =>
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (oauth) =>
    Effect.promise(() =>
      fetch(`${oauth.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: oauth.clientId, grant_type: "refresh_token", refresh_token: refreshToken })
      }).then((r) => r.text())
    ))

describe("verifyWebhook (the README's receiver check)", () => {
  const secret = "whsec_test-secret"
  const body = JSON.stringify({ id: "evt_1", type: "connection.connected" })
  const now = 1_800_000_000_000
  const t = now / 1000
  const header = Webhooks.sign(Redacted.make(secret), t, body)

  it("accepts what the broker signs, up to 5 minutes either way", () => {
    assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/)
    assert.isTrue(verifyWebhook(secret, body, header, now))
    assert.isTrue(verifyWebhook(secret, body, header, now + 300_000))
    assert.isTrue(verifyWebhook(secret, body, header, now - 300_000))
  })

  it("refuses another body, another secret, an old or future timestamp, a bad header", () => {
    assert.isFalse(verifyWebhook(secret, `${body} `, header, now))
    assert.isFalse(verifyWebhook("whsec_other", body, header, now))
    assert.isFalse(verifyWebhook(secret, body, header, now + 301_000))
    assert.isFalse(verifyWebhook(secret, body, header, now - 301_000))
    assert.isFalse(verifyWebhook(secret, body, header.replace(`t=${t}`, `t=${t + 1}`), now))
    assert.isFalse(verifyWebhook(secret, body, header.slice(0, -2), now))
    assert.isFalse(verifyWebhook(secret, body, undefined, now))
    assert.isFalse(verifyWebhook(secret, body, "v1=00", now))
  })
})

describe("Webhooks.crossings", () => {
  const w = (name: string, usedPercent: number, resetsAt?: number) => ({ name, usedPercent, ...(resetsAt !== undefined ? { resetsAt } : {}) })
  const names = (windows: ReadonlyArray<Webhooks.UsageWindow>) => windows.map((x) => x.name)

  it("upward through the threshold: not at t-1, at t, not again above it", () => {
    assert.deepStrictEqual(names(Webhooks.crossings([w("primary", 50, 1e12)], [w("primary", 79, 1e12)], 80)), [])
    assert.deepStrictEqual(names(Webhooks.crossings([w("primary", 79, 1e12)], [w("primary", 80, 1e12)], 80)), ["primary"])
    assert.deepStrictEqual(names(Webhooks.crossings([w("primary", 80, 1e12)], [w("primary", 95, 1e12)], 80)), [])
  })

  it("a window seen first, or reset since, counts as having been below; drift in resetsAt does not", () => {
    assert.deepStrictEqual(names(Webhooks.crossings([], [w("primary", 90, 1e12), w("secondary", 10, 2e12)], 80)), ["primary"])
    assert.deepStrictEqual(names(Webhooks.crossings([w("primary", 95, 1e12)], [w("primary", 85, 1e12 + 3_600_000)], 80)), ["primary"])
    assert.deepStrictEqual(names(Webhooks.crossings([w("primary", 95, 1e12)], [w("primary", 96, 1e12 + 2_000)], 80)), [])
  })

  it("ignores windows that are not numbers", () => {
    assert.deepStrictEqual(names(Webhooks.crossings([], [w("primary", Number.NaN), w("", 90)], 80)), [])
  })
})

forEachEngine("webhooks", (engine: Engine) => {
  it.live("configure, read, rotate, remove: the secret is shown once, changes are audited, bad input refused", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const { key } = yield* tenant()
      const other = yield* tenant("other")
      const refused = [
        { url: "http://hooks.example.com/x" },
        { url: "ftp://127.0.0.1/x" },
        { url: "https://user:pw@hooks.example.com/x" },
        { url: "not a url" },
        { url: hooks.url, usage_threshold_percent: 0 },
        { url: hooks.url, usage_threshold_percent: 101 },
        { url: hooks.url, usage_threshold_percent: 50.5 }
      ]
      for (const body of refused) {
        const answer = yield* call("PUT", "/v1/webhook", { key, body })
        assert.strictEqual(answer.status, 400, JSON.stringify(body))
        assert.strictEqual(answer.body.error.code, "invalid_request")
      }
      assert.strictEqual((yield* call("GET", "/v1/webhook", { key })).body.error.code, "not_found")

      const secret = yield* configure(key, hooks.url, 80)
      const read = yield* call("GET", "/v1/webhook", { key })
      assert.strictEqual(read.status, 200)
      assert.strictEqual(read.body.url, hooks.url)
      assert.strictEqual(read.body.usage_threshold_percent, 80)
      assert.notProperty(read.body, "secret")
      // Another tenant has none.
      assert.strictEqual((yield* call("GET", "/v1/webhook", { key: other.key })).status, 404)

      // Changing the URL or threshold keeps the secret and does not show it.
      const changed = yield* call("PUT", "/v1/webhook", { key, body: { url: `${hooks.url}?v=2` } })
      assert.strictEqual(changed.status, 200, changed.text)
      assert.notProperty(changed.body, "secret")
      assert.isNull(changed.body.usage_threshold_percent)

      const rotated = yield* call("POST", "/v1/webhook/rotate-secret", { key })
      assert.strictEqual(rotated.status, 200, rotated.text)
      assert.match(rotated.body.secret, /^whsec_/)
      assert.notStrictEqual(rotated.body.secret, secret)
      assert.strictEqual((yield* call("POST", "/v1/webhook/rotate-secret", { key: other.key })).status, 404)

      assert.deepStrictEqual((yield* call("DELETE", "/v1/webhook", { key })).body, { removed: true })
      assert.deepStrictEqual((yield* call("DELETE", "/v1/webhook", { key })).body, { removed: false })
      assert.strictEqual((yield* call("GET", "/v1/webhook", { key })).status, 404)

      const audit = yield* call("GET", "/v1/audit", { key })
      const events = audit.body.events.map((e: { event: string }) => e.event)
      assert.deepStrictEqual(events.filter((e: string) => e.startsWith("webhook.")), [
        "webhook.configured",
        "webhook.configured",
        "webhook.secret_rotated",
        "webhook.removed"
      ])
      const first = audit.body.events.find((e: { event: string }) => e.event === "webhook.configured")
      assert.deepStrictEqual(first.detail, { host: new URL(hooks.url).host, usage_threshold_percent: 80, created: true })
      assert.match(first.actor, /^key:key_/)
      for (const value of [secret, rotated.body.secret]) assert.notInclude(audit.text, value)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: fast }))))

  it.live("each event arrives signed, with its data: connected, usage.threshold, reauth_required, revoked (sign-out and erasure)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const webhooks = yield* Webhooks.Webhooks
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const hooks = yield* receiver()
      const other = yield* receiver()
      const { id, key } = yield* tenant()
      const second = yield* tenant("second")
      const secret = yield* configure(key, hooks.url, 80)
      yield* configure(second.key, other.url)

      // connection.connected
      yield* connectByDevice(key, "alice")
      const [connected] = yield* eventually(() => hooks.events("connection.connected").length === 1 && hooks.events("connection.connected"))
      assert.deepStrictEqual(connected.data, {
        user_id: "alice",
        account_id: FakeOAuthServer.defaultAccount.accountId,
        plan: "plus",
        method: "device",
        replaced: false
      })

      // usage.threshold: once per window period, however often and by however many replicas it is observed.
      const resetsAt = Date.now() + 3_600_000
      assert.strictEqual(yield* webhooks.usageObserved(id, "alice", [{ name: "primary", usedPercent: 40, resetsAt }], [
        { name: "primary", usedPercent: 85.5, resetsAt },
        { name: "secondary", usedPercent: 12, resetsAt: resetsAt + 86_400_000 }
      ]), 1)
      assert.strictEqual(yield* webhooks.usageObserved(id, "alice", [{ name: "primary", usedPercent: 85.5, resetsAt }], [{ name: "primary", usedPercent: 90, resetsAt }]), 0)
      // Another replica that did not see the previous snapshot: the same window period, so no second event.
      assert.strictEqual(yield* webhooks.usageObserved(id, "alice", [], [{ name: "primary", usedPercent: 91, resetsAt }]), 0)
      const [usage] = yield* eventually(() => hooks.events("usage.threshold").length === 1 && hooks.events("usage.threshold"))
      assert.deepStrictEqual(usage.data, {
        user_id: "alice",
        window: "primary",
        used_percent: 85.5,
        threshold_percent: 80,
        resets_at: new Date(resetsAt).toISOString()
      })
      // A tenant without a threshold gets no usage events.
      assert.strictEqual(yield* webhooks.usageObserved(second.id, "alice", [], [{ name: "primary", usedPercent: 99, resetsAt }]), 0)

      // connection.reauth_required: bob's refresh token was spent elsewhere; his next token request finds out.
      const minted = yield* oauth.issueTokens()
      yield* (yield* SqlTokenStore.make({ tenantId: id })).set(
        "bob",
        new TokenSet.TokenSet({ ...minted, expiresAt: DateTime.unsafeMake(Date.now() + 1000), obtainedAt: DateTime.unsafeMake(Date.now() - 3_600_000) })
      )
      yield* spend(Redacted.value(Option.getOrThrow(minted.refreshToken)))
      const dead = yield* call("POST", "/v1/users/bob/token", { key, body: {} })
      assert.strictEqual(dead.status, 409, dead.text)
      assert.strictEqual((yield* call("POST", "/v1/users/bob/token", { key, body: {} })).status, 409)
      const [reauth] = yield* eventually(() => hooks.events("connection.reauth_required").length === 1 && hooks.events("connection.reauth_required"))
      assert.deepStrictEqual(reauth.data, { user_id: "bob", reason: "RefreshTokenReused" })

      // connection.revoked: a sign-out, then an erasure.
      assert.strictEqual((yield* call("DELETE", "/v1/users/alice/connection", { key })).status, 200)
      assert.strictEqual((yield* call("DELETE", "/v1/users/bob", { key })).status, 200)
      // Signing out a user without a connection tells nothing.
      assert.strictEqual((yield* call("DELETE", "/v1/users/nobody/connection", { key })).status, 200)
      const revoked = yield* eventually(() => hooks.events("connection.revoked").length === 2 && hooks.events("connection.revoked"))
      assert.sameDeepMembers(revoked.map((e) => e.data), [
        { user_id: "alice", reason: "signed_out", issuer_revoke: "revoked" },
        { user_id: "bob", reason: "erased", issuer_revoke: "skipped" }
      ])
      yield* Effect.sleep("500 millis")
      assert.lengthOf(hooks.received, 5)
      checkAll(hooks, secret, id)
      // The other tenant's receiver heard nothing of these users.
      assert.lengthOf(other.received, 0)

      // The log: every delivery once, first time, newest first; erasure took bob's older rows with it.
      const log = yield* call("GET", "/v1/webhook/deliveries?limit=10", { key })
      assert.strictEqual(log.status, 200, log.text)
      assert.deepStrictEqual(log.body.deliveries.map((d: { event: string }) => d.event), [
        "connection.revoked",
        "connection.revoked",
        "usage.threshold",
        "connection.connected"
      ])
      for (const delivery of log.body.deliveries) {
        assert.strictEqual(delivery.status, "delivered")
        assert.strictEqual(delivery.attempts, 1)
        assert.strictEqual(delivery.last_status, 200)
        assert.isNull(delivery.last_error)
        assert.isNull(delivery.next_attempt_at)
        assert.notProperty(delivery, "payload")
      }
      assert.lengthOf((yield* call("GET", "/v1/webhook/deliveries", { key: second.key })).body.deliveries, 0)
      const rows = yield* sql`SELECT user_id FROM webhook_deliveries WHERE tenant_id = ${id} AND user_id = ${"bob"}`
      assert.lengthOf(rows, 1)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: fast }))))

  it.live("a receiver that answers 503, then one that is down, gets its events later; the log shows the attempts", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const { id, key } = yield* tenant()
      const secret = yield* configure(key, hooks.url)
      hooks.status = 503
      yield* connectByDevice(key, "carol")
      yield* eventually(() => hooks.received.length >= 3)
      const pending = yield* call("GET", "/v1/webhook/deliveries", { key })
      assert.strictEqual(pending.body.deliveries[0].status, "pending")
      assert.isAtLeast(pending.body.deliveries[0].attempts, 2)
      assert.strictEqual(pending.body.deliveries[0].last_status, 503)
      assert.strictEqual(pending.body.deliveries[0].last_error, "HTTP 503")
      assert.isNotNull(pending.body.deliveries[0].next_attempt_at)
      hooks.status = 200
      yield* eventually(() => hooks.received.some((r, i) => i >= 2 && r.headers["subauth-event"] === "connection.connected"))
      const done = yield* call("GET", "/v1/webhook/deliveries", { key }).pipe(
        Effect.zipLeft(Effect.sleep("50 millis")),
        Effect.repeat({ until: (answer) => answer.body.deliveries[0].status === "delivered", times: 100 })
      )
      assert.strictEqual(done.body.deliveries[0].status, "delivered")
      assert.strictEqual(done.body.deliveries[0].attempts, hooks.received.length)
      assert.strictEqual(done.body.deliveries[0].last_status, 200)
      // The same event every time: one id, one body; each attempt signed afresh.
      assert.strictEqual(new Set(hooks.received.map((r) => r.headers["subauth-delivery"])).size, 1)
      assert.strictEqual(new Set(hooks.received.map((r) => r.body)).size, 1)
      checkAll(hooks, secret, id)

      // Now nobody listens at the address; then a receiver comes back on it.
      const port = yield* closedPort
      const url = `http://127.0.0.1:${port}/hooks`
      assert.strictEqual((yield* call("PUT", "/v1/webhook", { key, body: { url } })).status, 200)
      assert.strictEqual((yield* call("DELETE", "/v1/users/carol/connection", { key })).status, 200)
      const refused = yield* call("GET", "/v1/webhook/deliveries", { key }).pipe(
        Effect.zipLeft(Effect.sleep("50 millis")),
        Effect.repeat({ until: (answer) => answer.body.deliveries[0].attempts >= 2, times: 100 })
      )
      assert.strictEqual(refused.body.deliveries[0].event, "connection.revoked")
      assert.strictEqual(refused.body.deliveries[0].status, "pending")
      assert.strictEqual(refused.body.deliveries[0].last_error, "ECONNREFUSED")
      assert.isNull(refused.body.deliveries[0].last_status)
      const back = yield* receiver(port)
      const [revoked] = yield* eventually(() => back.events("connection.revoked").length === 1 && back.events("connection.revoked"))
      assert.strictEqual(revoked.data.user_id, "carol")
      checkAll(back, secret, id)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: fast }))))

  it.live("after the last attempt a delivery is failed, and never sent again", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const { key } = yield* tenant()
      yield* configure(key, hooks.url)
      hooks.status = 500
      yield* connectByDevice(key, "dave")
      const failed = yield* call("GET", "/v1/webhook/deliveries", { key }).pipe(
        Effect.zipLeft(Effect.sleep("100 millis")),
        Effect.repeat({ until: (answer) => answer.body.deliveries[0]?.status === "failed", times: 100 })
      )
      assert.strictEqual(failed.body.deliveries[0].status, "failed")
      assert.strictEqual(failed.body.deliveries[0].attempts, 3)
      assert.strictEqual(failed.body.deliveries[0].last_error, "HTTP 500")
      assert.isNull(failed.body.deliveries[0].next_attempt_at)
      yield* Effect.sleep("1 second")
      assert.lengthOf(hooks.received, 3)
    }).pipe(
      Effect.scoped,
      Effect.provide(brokerLayer(engine, { broker: { webhooks: { ...fast.webhooks, retry: { ...fast.webhooks.retry, maxAttempts: 3 } } } }))
    ))

  it.live("the typed client has the webhook routes; the secret arrives Redacted", () =>
    Effect.gen(function*() {
      const { url } = yield* BrokerServer.BrokerServer
      const hooks = yield* receiver()
      const { key } = yield* tenant()
      const client = yield* BrokerClient.make({ url, apiKey: key }).pipe(Effect.provide(NodeHttpClient.layer))
      const missing = yield* Effect.flip(client.webhook.get())
      assert.instanceOf(missing, Api.NotFound)
      const created = yield* client.webhook.configure({ payload: new Api.WebhookRequest({ url: hooks.url, usage_threshold_percent: 90 }) })
      assert.isTrue(created.secret !== undefined && Redacted.isRedacted(created.secret))
      assert.notInclude(String(created.secret), "whsec_")
      assert.strictEqual(created.usage_threshold_percent, 90)
      const read = yield* client.webhook.get()
      assert.isUndefined(read.secret)
      const rotated = yield* client.webhook.rotateSecret()
      assert.notStrictEqual(Redacted.value(rotated.secret!), Redacted.value(created.secret!))
      assert.deepStrictEqual((yield* client.webhook.deliveries({ urlParams: {} })).deliveries, [])
      const bad = yield* Effect.flip(client.webhook.configure({ payload: new Api.WebhookRequest({ url: "http://example.com/x" }) }))
      assert.instanceOf(bad, Api.InvalidRequest)
      assert.isTrue((yield* client.webhook.remove()).removed)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: fast }))))

  it.live("two deliverers on one database (replicas): each of 40 events is sent once", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const { id, key } = yield* tenant()
      yield* configure(key, hooks.url)
      const events = yield* Webhooks.Webhooks
      // Two more services on the same database, as two replicas would have, without their own loops.
      const a = yield* Webhooks.make({ holderName: "replica a", batch: 5, concurrency: 2 })
      const b = yield* Webhooks.make({ holderName: "replica b", batch: 5, concurrency: 2 })
      for (let i = 0; i < 40; i++) yield* events.emit(id, "connection.revoked", `user-${i}`, { reason: "signed_out", issuer_revoke: "skipped" })
      // Each takes rounds until a round finds nothing due: they run into each other the whole time.
      const rounds = (service: Webhooks.Webhooks.Service) =>
        Effect.iterate({ sent: -1, total: 0 }, {
          while: (state) => state.sent !== 0,
          body: (state) => Effect.map(service.deliverDue, (sent) => ({ sent, total: state.total + sent }))
        })
      const [byA, byB] = yield* Effect.all([rounds(a), rounds(b)], { concurrency: 2 })
      assert.strictEqual(byA.total + byB.total, 40)
      yield* Effect.sleep("500 millis")
      const ids = hooks.received.map((r) => r.headers["subauth-delivery"])
      assert.lengthOf(ids, 40)
      assert.strictEqual(new Set(ids).size, 40)
    }).pipe(Effect.scoped, Effect.provide(brokerLayer(engine, { broker: { polling: false } }))))
})
