/**
 * `subauth broker serve` as a process, driven over HTTP with plain `fetch`
 * from this one (not our client), and the admin commands run beside it on
 * the same database: the whole lifecycle, a restart, a wrong master key, and
 * a master-key rotation while requests keep coming.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Tenants from "../src/Tenants.js"
import { envFor, fetchJson, serve, subauth } from "./processes.js"
import { tempDir } from "./support.js"

const setup = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 1, deviceInterval: "1" })
  const home = yield* tempDir
  const env = envFor(home, oauth.url)
  return { oauth, home, env }
})

const createTenant = (env: Record<string, string>, name: string) =>
  Effect.gen(function*() {
    const created = yield* subauth(env, "broker", "tenant", "create", name, "--json")
    assert.strictEqual(created.code, 0, created.stderr)
    return JSON.parse(created.stdout) as { tenant: { id: string }; key: { id: string; secret: string } }
  })

const connect = (url: string, key: string, userId: string) =>
  Effect.gen(function*() {
    const created = yield* fetchJson(`${url}/v1/connect-sessions`, "POST", key, { user_id: userId, method: "device", accept_terms: true })
    assert.strictEqual(created.status, 201, created.text)
    for (let i = 0; i < 100; i++) {
      const session = yield* fetchJson(`${url}/v1/connect-sessions/${created.body.id}`, "GET", key)
      if (session.body.status !== "pending") return session.body
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage("the session stayed pending")
  })

// Live clocks: the processes and the fake issuer (made here) share real time.
describe("subauth broker serve (a process)", () => {
  it.live("the whole lifecycle over plain fetch: tenant, connect, token, status, sign-out, audit", () =>
    Effect.gen(function*() {
      const { oauth, env } = yield* setup
      const broker = yield* serve(env)
      // The admin command works on the database the server has open.
      const { key } = yield* createTenant(env, "lifecycle app")
      const health = yield* fetchJson(`${broker.url}/readyz`, "GET")
      assert.deepStrictEqual(health.body, { status: "ready" })
      const session = yield* connect(broker.url, key.secret, "alice")
      assert.strictEqual(session.status, "connected")
      const token = yield* fetchJson(`${broker.url}/v1/users/alice/token`, "POST", key.secret, { label: "job 1" })
      assert.strictEqual(token.status, 200, token.text)
      assert.isTrue((yield* oauth.verifyAccessToken(token.body.access_token))._tag === "Some")
      const status = yield* fetchJson(`${broker.url}/v1/users/alice/connection`, "GET", key.secret)
      assert.strictEqual(status.body.status, "connected")
      const out = yield* fetchJson(`${broker.url}/v1/users/alice/connection`, "DELETE", key.secret)
      assert.strictEqual(out.body.revoke, "revoked")
      const audit = yield* fetchJson(`${broker.url}/v1/audit?user_id=alice`, "GET", key.secret)
      const events = audit.body.events.map((e: { event: string }) => e.event)
      assert.includeMembers(events, ["consent.recorded", "sign_in.started", "connection.connected", "token.issued", "connection.signed_out"])
      // No token in the server's logs, which are JSON lines.
      const logs = broker.logs()
      assert.notInclude(logs, token.body.access_token)
      assert.notInclude(logs, key.secret)
      for (const line of logs.trim().split("\n")) assert.doesNotThrow(() => JSON.parse(line), line)
      // A key revoked by another process (the CLI) stops working within Tenants.KEY_CACHE_MILLIS, without a restart.
      const second = yield* subauth(env, "broker", "tenant", "key", "create", (yield* subauth(env, "broker", "tenant", "list", "--json")).stdout.match(/ten_[a-z0-9]+/)![0], "--label", "ci", "--json")
      const secondKey = JSON.parse(second.stdout) as { id: string; secret: string }
      assert.strictEqual((yield* fetchJson(`${broker.url}/v1/users/alice/connection`, "GET", secondKey.secret)).status, 200)
      assert.strictEqual((yield* subauth(env, "broker", "tenant", "key", "revoke", secondKey.id)).code, 0)
      yield* Effect.sleep(Duration.millis(Tenants.KEY_CACHE_MILLIS))
      assert.strictEqual((yield* fetchJson(`${broker.url}/v1/users/alice/connection`, "GET", secondKey.secret)).status, 401)
    }).pipe(Effect.scoped))

  it.live("a restart keeps everything; a wrong master key stops the start with a clear error and changes nothing", () =>
    Effect.gen(function*() {
      const { env } = yield* setup
      const first = yield* serve(env)
      const { key } = yield* createTenant(env, "restart app")
      yield* connect(first.url, key.secret, "bob")
      const before = yield* fetchJson(`${first.url}/v1/users/bob/token`, "POST", key.secret, {})
      yield* first.kill("SIGTERM")
      const again = yield* serve(env)
      const after = yield* fetchJson(`${again.url}/v1/users/bob/token`, "POST", key.secret, {})
      assert.strictEqual(after.status, 200, after.text)
      assert.strictEqual(after.body.access_token, before.body.access_token)
      yield* again.kill("SIGTERM")

      const keyFile = join(env.SUBAUTH_HOME, "broker", "master.key")
      const keyBefore = readFileSync(keyFile, "utf8")
      const wrong = { ...env, SUBAUTH_BROKER_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") }
      const refused = yield* subauth(wrong, "broker", "serve", "--port", "0")
      assert.strictEqual(refused.code, 1, refused.stdout)
      assert.include(refused.stderr, "not configured")
      assert.notInclude(refused.stdout, "listening")
      const missing = yield* subauth({ ...env, SUBAUTH_BROKER_MASTER_KEY_FILE: join(env.SUBAUTH_HOME, "nope.key") }, "broker", "tenant", "list")
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, "does not exist")
      // Nothing was overwritten: the right key still opens everything.
      assert.strictEqual(readFileSync(keyFile, "utf8"), keyBefore)
      const third = yield* serve(env)
      assert.strictEqual((yield* fetchJson(`${third.url}/v1/users/bob/token`, "POST", key.secret, {})).body.access_token, before.body.access_token)
    }).pipe(Effect.scoped))

  it.live("rotate-master-key while requests keep coming: none fails, and afterwards only the new key is needed", () =>
    Effect.gen(function*() {
      const { env } = yield* setup
      const broker = yield* serve(env)
      const tenants = yield* Effect.forEach([1, 2, 3], (i) => createTenant(env, `app ${i}`))
      for (const [i, t] of tenants.entries()) yield* connect(broker.url, t.key.secret, `user-${i}`)
      const keyFile = join(env.SUBAUTH_HOME, "broker", "master.key")
      const oldKey = readFileSync(keyFile, "utf8").trim()
      let failures = 0
      let served = 0
      const load = Effect.forEach(Array.from({ length: 300 }, (_, n) => n), (n) =>
        Effect.map(
          fetchJson(`${broker.url}/v1/users/user-${n % 3}/token`, "POST", tenants[n % 3]!.key.secret, {}),
          (answer) => {
            if (answer.status === 200) served++
            else failures++
          }
        ), { concurrency: 8, discard: true })
      const [, rotated] = yield* Effect.all([load, subauth(env, "broker", "rotate-master-key", "--json")], { concurrency: 2 })
      assert.strictEqual(rotated.code, 0, rotated.stderr)
      assert.strictEqual(JSON.parse(rotated.stdout).rewrapped_tenants, 3)
      assert.strictEqual(failures, 0)
      assert.strictEqual(served, 300)
      const newKey = readFileSync(keyFile, "utf8").trim()
      assert.notStrictEqual(newKey, oldKey)
      assert.notInclude(newKey, oldKey)
      // A fresh process with only the new key reads every sign-in.
      yield* broker.kill("SIGTERM")
      const fresh = yield* serve(env)
      for (const [i, t] of tenants.entries()) {
        assert.strictEqual((yield* fetchJson(`${fresh.url}/v1/users/user-${i}/token`, "POST", t.key.secret, {})).status, 200)
      }
      // And the old key alone no longer does.
      const old = yield* subauth({ ...env, SUBAUTH_BROKER_MASTER_KEY: oldKey }, "broker", "tenant", "list")
      assert.strictEqual(old.code, 1)
      // Each tenant's trail says its data key was re-wrapped, by the command line.
      const trail = yield* fetchJson(`${fresh.url}/v1/audit?limit=500`, "GET", tenants[0]!.key.secret)
      const rotation = trail.body.events.find((e: { event: string }) => e.event === "master_key.rotated")
      assert.strictEqual(rotation.actor, "cli")
    }).pipe(Effect.scoped))

  it.live("SIGTERM: a request in flight finishes, then the server exits 0, as a supervisor expects", () =>
    Effect.gen(function*() {
      const { oauth, env } = yield* setup
      const broker = yield* serve(env)
      const { key } = yield* createTenant(env, "shutdown app")
      yield* connect(broker.url, key.secret, "dora")
      // A refresh that takes 1.5 s at the issuer is in flight when the signal comes.
      yield* oauth.inject({ endpoint: "token", fault: FakeHttp.latency("1500 millis"), calls: [1] })
      const current = yield* fetchJson(`${broker.url}/v1/users/dora/token`, "POST", key.secret, {})
      // A rejected token makes the broker refresh.
      const inFlight = yield* Effect.fork(
        fetchJson(`${broker.url}/v1/users/dora/token`, "POST", key.secret, { rejected_access_token: current.body.access_token })
      )
      yield* Effect.gen(function*() {
        while (!(yield* oauth.requests).some((r) => r.endpoint === "token" && r.fault === "Latency")) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the refresh never reached the issuer") }))
      broker.child.kill("SIGTERM")
      const answer = yield* inFlight.await.pipe(Effect.flatten)
      assert.strictEqual(answer.status, 200, answer.text)
      // SIGTERM is how systemd, Docker and Kubernetes stop it: a clean stop, not a cancellation (it was 130, "Cancelled.").
      const end = yield* broker.exited.pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(end, { code: 0, signal: null }, broker.logs())
      assert.notInclude(broker.logs(), "Cancelled.")
      assert.include(broker.logs(), "Stopped.")
    }).pipe(Effect.scoped))
})
