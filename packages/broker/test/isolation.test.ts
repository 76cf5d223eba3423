/**
 * Tenant isolation, fuzzed (fast-check): random tenants, users, keys and
 * requests. No response ever carries another tenant's data (their users'
 * account ids, emails, tokens or sessions), and every request aimed at
 * another tenant's user or session gets exactly the answer a user or session
 * that does not exist gets. Afterwards every owner's data is intact.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenSet } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, ManagedRuntime, Option, Redacted } from "effect"
import fc from "fast-check"
import * as SqlTokenStore from "../src/SqlTokenStore.js"
import * as Tenants from "../src/Tenants.js"
import { type Answer, brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

interface Owned {
  readonly tenantId: string
  readonly key: Redacted.Redacted<string>
  readonly users: ReadonlyArray<{ readonly userId: string; readonly accountId: string; readonly email: string; readonly accessToken: string }>
  readonly sessions: ReadonlyArray<string>
}

type Operation =
  | { readonly _tag: "connection" | "token" | "signOut" | "audit"; readonly user: string }
  | { readonly _tag: "session" | "consent" | "redirect"; readonly session: string }

const requestOf = (op: Operation): { method: string; path: string; body?: unknown } => {
  switch (op._tag) {
    case "connection":
      return { method: "GET", path: `/v1/users/${op.user}/connection` }
    case "token":
      return { method: "POST", path: `/v1/users/${op.user}/token`, body: { label: "fuzz" } }
    case "signOut":
      return { method: "DELETE", path: `/v1/users/${op.user}/connection?revoke=false` }
    case "audit":
      return { method: "GET", path: `/v1/audit?user_id=${op.user}` }
    case "session":
      return { method: "GET", path: `/v1/connect-sessions/${op.session}` }
    case "consent":
      return { method: "POST", path: `/v1/connect-sessions/${op.session}/consent` }
    case "redirect":
      return { method: "POST", path: `/v1/connect-sessions/${op.session}/redirect`, body: { url: "http://127.0.0.1:1455/auth/callback?code=x&state=y" } }
  }
}

// What may differ between two answers to the same request: nothing but the request id.
const comparable = (answer: Answer) => ({ status: answer.status, body: answer.text })

// `shared`: users of every tenant have the same ids (user-0, user-1, …); else each tenant's are its own.
const setup = (count: number, usersEach: number, shared = false) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.FakeOAuthServer
    const owned: Array<Owned> = []
    for (let t = 0; t < count; t++) {
      const { id, key } = yield* tenant(`tenant ${t}`)
      const store = yield* SqlTokenStore.make({ tenantId: id })
      const users: Array<Owned["users"][number]> = []
      for (let u = 0; u < usersEach; u++) {
        const userId = shared ? `user-${u}` : `user-${u}-of-${t}`
        const accountId = `acct-t${t}-u${u}-${crypto.randomUUID()}`
        const email = `t${t}.u${u}@tenant${t}.example`
        const tokens: TokenSet.TokenSet = yield* oauth.issueTokens({ account: { accountId, email } })
        yield* store.set(userId, tokens)
        users.push({ userId, accountId, email, accessToken: Redacted.value(tokens.accessToken) })
      }
      const sessions: Array<string> = []
      for (const method of ["paste", "device"] as const) {
        const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: users[0]!.userId, method } })
        sessions.push(created.body.id)
      }
      owned.push({ tenantId: id, key, users, sessions })
    }
    return owned
  })

forEachEngine("tenant isolation", (engine: Engine) => {
  describe("fuzz", () => {
    it("no answer carries another tenant's data; cross-tenant requests get the missing-id answer", { timeout: 120_000 }, async () => {
      // Device codes are never approved here: a session consented to must not connect anyone during the run.
      const runtime = ManagedRuntime.make(brokerLayer(engine, { oauth: { devicePendingPolls: "manual" } }).pipe(Layer.orDie))
      try {
        const owned = await runtime.runPromise(setup(3, 3))
        const stranger = await runtime.runPromise(tenant("stranger"))
        const secretsOf = (t: Owned) => t.users.flatMap((u) => [u.accountId, u.email, u.accessToken]).concat(t.sessions)
        const operation = (target: Owned): fc.Arbitrary<Operation> =>
          fc.oneof(
            fc.record({
              _tag: fc.constantFrom("connection" as const, "token" as const, "signOut" as const, "audit" as const),
              user: fc.constantFrom(...target.users.map((u) => u.userId))
            }),
            fc.record({
              _tag: fc.constantFrom("session" as const, "consent" as const, "redirect" as const),
              session: fc.constantFrom(...target.sessions)
            })
          )
        // Each tenant also has a second live key and a revoked one.
        const keys = await runtime.runPromise(Effect.forEach(owned, (t, index) =>
          Effect.gen(function*() {
            const tenants = yield* Tenants.Tenants
            const second = yield* tenants.createKey(t.tenantId, "second")
            const revoked = yield* tenants.createKey(t.tenantId, "revoked")
            yield* tenants.revokeKey(revoked.id)
            return [{ owner: index, key: t.key, live: true }, { owner: index, key: second.secret, live: true }, {
              owner: index,
              key: revoked.secret,
              live: false
            }]
          })))
        const allKeys = keys.flat()
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...allKeys).chain((caller) =>
              fc.oneof(
                // Another tenant's user or session.
                fc.integer({ min: 0, max: owned.length - 1 }).filter((target) => target !== caller.owner).chain((target) =>
                  operation(owned[target]!).map((op) => ({ caller, op, foreign: true }))
                ),
                // Its own (not signing them out: the end checks every owner's users are still there), or an id nobody has.
                operation(owned[caller.owner]!).filter((op) => op._tag !== "signOut").map((op) => ({ caller, op, foreign: false })),
                fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/).map((user) => ({ caller, op: { _tag: "token" as const, user }, foreign: false }))
              )
            ),
            async ({ caller, op, foreign }) => {
              const request = requestOf(op)
              const answer = await runtime.runPromise(call(request.method, request.path, { key: caller.key, body: request.body }))
              if (!caller.live) {
                assert.strictEqual(answer.status, 401, answer.text)
                assert.strictEqual(answer.body.error.code, "unauthorized")
                return
              }
              if (foreign) {
                // The same request from a tenant that has never seen these ids.
                const missing = await runtime.runPromise(call(request.method, request.path, { key: stranger.key, body: request.body }))
                assert.deepStrictEqual(comparable(answer), comparable(missing), `${request.method} ${request.path}`)
              }
              for (const other of owned) {
                if (other === owned[caller.owner]) continue
                // The caller may see what it sent (an id echoed in a message), nothing else of theirs.
                for (const secret of secretsOf(other)) if (!request.path.includes(secret)) assert.notInclude(answer.text, secret)
              }
              assert.isBelow(answer.status, 500, answer.text)
            }
          ),
          { numRuns: 200 }
        )
        // Every owner still has all of its users, connected, whatever the others tried.
        for (const t of owned) {
          for (const user of t.users) {
            const connection = await runtime.runPromise(call("GET", `/v1/users/${user.userId}/connection`, { key: t.key }))
            assert.strictEqual(connection.body.status, "connected")
            assert.strictEqual(connection.body.account_id, user.accountId)
          }
          for (const session of t.sessions) {
            const answer = await runtime.runPromise(call("GET", `/v1/connect-sessions/${session}`, { key: t.key }))
            assert.strictEqual(answer.status, 200)
          }
        }
      } finally {
        await runtime.dispose()
      }
    })
  })

  it.live("a tenant's audit trail has only its own events", () =>
    Effect.gen(function*() {
      const [a, b] = yield* setup(2, 1, true)
      yield* call("POST", "/v1/users/user-0/token", { key: a!.key, body: {} })
      const trail = yield* call("GET", "/v1/audit?limit=500", { key: b!.key })
      for (const secret of [a!.users[0]!.accountId, a!.users[0]!.email, a!.tenantId, ...a!.sessions]) assert.notInclude(trail.text, secret)
      assert.isFalse(trail.body.events.some((e: { event: string }) => e.event === "token.issued"))
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("users of two tenants with the same id are two users: each store and key sees only its own", () =>
    Effect.gen(function*() {
      const [a, b] = yield* setup(2, 2, true)
      const storeB = yield* SqlTokenStore.make({ tenantId: b!.tenantId })
      const storeA = yield* SqlTokenStore.make({ tenantId: a!.tenantId })
      for (const user of a!.users) {
        const seenByB = Option.getOrThrow(yield* storeB.get(user.userId))
        assert.notStrictEqual(Redacted.value(seenByB.accessToken), user.accessToken)
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* storeA.get(user.userId)).accessToken), user.accessToken)
        const viaB = yield* call("GET", `/v1/users/${user.userId}/connection`, { key: b!.key })
        assert.notStrictEqual(viaB.body.account_id, user.accountId)
        yield* call("DELETE", `/v1/users/${user.userId}/connection?revoke=false`, { key: b!.key })
        assert.strictEqual((yield* call("GET", `/v1/users/${user.userId}/connection`, { key: a!.key })).body.account_id, user.accountId)
      }
    }).pipe(Effect.provide(brokerLayer(engine))))
})
