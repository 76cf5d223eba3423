/**
 * `subauth connect <url>` against a real broker on 127.0.0.1 (SQLite, the
 * fake issuer): the built binary runs the browser sign-in (this test plays
 * the browser over HTTP) and hands it to the connect session the page made;
 * nothing is stored on this side. Plus its refusals, in-process: a URL that
 * is not one, plain http to another host, a used code, another issuer, no
 * terminal without --yes; and a sign-in the broker does not take is revoked.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Broker, BrokerDatabase, BrokerServer, KeyWrap, Tenants } from "@subauth/broker"
import { SecureRandom } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeRunner, tempHome } from "./support.js"

const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))
const bundle = fileURLToPath(new URL("../dist/subauth.cjs", import.meta.url))

/** A broker on a fresh SQLite file, with the fake issuer (which approves sign-ins at once). */
const brokerLayer = (home: string, oauth: FakeOAuthServer.Options = {}) =>
  BrokerServer.layer({ port: 0 }).pipe(
    Layer.provideMerge(Broker.layer({
      backend: { baseUrl: "http://127.0.0.1:9/backend-api/codex", originator: "codex_cli_rs" },
      sessions: { tick: Duration.millis(100) }
    })),
    Layer.provideMerge(KeyWrap.layerLocal({ current: Redacted.make(new Uint8Array(randomBytes(32))), previous: [] })),
    Layer.provideMerge(
      BrokerDatabase.layer({ _tag: "Sqlite", filename: join(home, "broker.db") }).pipe(
        Layer.tap((context) => Effect.provide(BrokerDatabase.migrate, context))
      )
    ),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(FakeOAuthServer.layer(oauth)),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )

/** What the page does before it shows the command: a session, the link, consent, "with one command". Its one-time URL. */
const commandUrl = (userId: string, tenantKey?: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const { url } = yield* BrokerServer.BrokerServer
    const key = tenantKey ?? (yield* Effect.flatMap(Tenants.Tenants, (t) => t.create("Acme Agents"))).key.secret
    return yield* Effect.promise(async () => {
      let cookie = ""
      const go = async (path: string, form?: Record<string, string>) => {
        const response = await fetch(path.startsWith("http") ? path : `${url}${path}`, {
          method: form === undefined ? "GET" : "POST",
          redirect: "manual",
          headers: { cookie, ...(form !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
          ...(form !== undefined ? { body: new URLSearchParams(form).toString() } : {})
        })
        const set = response.headers.get("set-cookie")
        if (set !== null) cookie = set.split(";")[0]!
        return response.text()
      }
      const created = await fetch(`${url}/v1/connect-sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${Redacted.value(key)}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: userId })
      }).then((r) => r.json()) as { id: string; connect_url: string }
      await go(created.connect_url)
      const csrf = /name="csrf" value="([^"]+)"/.exec(await go("/connect"))![1]!
      await go("/connect/accept", { csrf })
      await go("/connect/method", { csrf, method: "cli" })
      const command = /npx subauth connect ([^\s<"]+)/.exec(await go("/connect"))![1]!
      return { command, key, sessionId: created.id, brokerUrl: url, state: () => go("/connect/api/state").then((t) => JSON.parse(t).view as string) }
    })
  })

interface Child {
  readonly code: Promise<number>
  readonly stdout: () => string
  readonly stderr: () => string
}

const run = (args: ReadonlyArray<string>, env: Record<string, string>): Child => {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => void (stdout += chunk))
  child.stderr.on("data", (chunk) => void (stderr += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
  return {
    code: new Promise((resolve) => child.on("close", (code) => (clearTimeout(timer), resolve(code ?? 1)))),
    stdout: () => stdout,
    stderr: () => stderr
  }
}

/** Plays the person's browser: waits for the sign-in address the command prints, and follows it (the fake issuer approves). */
const signInAt = (child: Child) =>
  Effect.promise(async () => {
    for (let i = 0; i < 200; i++) {
      const found = /(http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+)/.exec(child.stderr())
      if (found !== null) return (await fetch(found[1]!)).status
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`no sign-in address printed: ${child.stderr()}`)
  })

describe("subauth connect", () => {
  it.live("the built binary signs in here and hands the sign-in to the page's session; the page turns to connected; nothing is stored here", () =>
    Effect.gen(function*() {
      assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
      const home = yield* tempHome
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const { brokerUrl, command, key, sessionId, state } = yield* commandUrl("alice")
      assert.strictEqual(yield* Effect.promise(state), "cli")
      const env = { HOME: home, SUBAUTH_HOME: join(home, "subauth"), SUBAUTH_ISSUER: oauth.url, SUBAUTH_ALLOW_INSECURE_HTTP: "1", CI: "true" }
      const child = run(["connect", command, "--yes", "--no-browser", "--port", "0"], env)
      assert.strictEqual(yield* signInAt(child), 200)
      const code = yield* Effect.promise(() => child.code)
      assert.strictEqual(code, 0, child.stderr())
      assert.include(child.stdout(), "Connected. Acme Agents can now use your ChatGPT subscription (user alice)")
      assert.include(child.stderr(), `hands the sign-in to 127.0.0.1:${new URL(brokerUrl).port} for Acme Agents (user alice)`)
      assert.include(child.stderr(), "Nothing was stored on this computer.")
      // The page's session turned by itself; the broker holds the sign-in, with the user's consent from the page.
      assert.strictEqual(yield* Effect.promise(state), "connected")
      const connection: { status: string; consent: { attested_by: string } } = yield* Effect.promise(() =>
        fetch(`${brokerUrl}/v1/users/alice/connection`, { headers: { authorization: `Bearer ${Redacted.value(key)}` } }).then((r) => r.json())
      )
      assert.strictEqual(connection.status, "connected")
      assert.strictEqual(connection.consent.attested_by, "user")
      const session: { status: string } = yield* Effect.promise(() =>
        fetch(`${brokerUrl}/v1/connect-sessions/${sessionId}`, { headers: { authorization: `Bearer ${Redacted.value(key)}` } }).then((r) => r.json())
      )
      assert.strictEqual(session.status, "connected")
      // Nothing on this side: no token store, no consent record.
      const home_ = join(home, "subauth")
      assert.deepStrictEqual(existsSync(home_) ? readdirSync(home_, { recursive: true }) : [], [])
      // No token is printed (the fake's tokens are JWTs).
      assert.notMatch(child.stdout() + child.stderr(), /eyJ[A-Za-z0-9_-]{8,}/)

      // The same command again: the code worked once.
      const again = run(["connect", command, "--yes", "--no-browser", "--port", "0"], env)
      assert.strictEqual(yield* Effect.promise(() => again.code), 1)
      assert.include(again.stderr(), "this code was used, has expired, or its sign-in has ended")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempHome, (home) => brokerLayer(home)))), Effect.scoped))

  it.live("a sign-in the broker does not take (another account than the one connected) is revoked at once, and says so", () =>
    Effect.gen(function*() {
      assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
      const home = yield* tempHome
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const env = { HOME: home, SUBAUTH_HOME: join(home, "subauth"), SUBAUTH_ISSUER: oauth.url, SUBAUTH_ALLOW_INSECURE_HTTP: "1", CI: "true" }
      const first = yield* commandUrl("bob")
      const child = run(["connect", first.command, "--yes", "--no-browser", "--port", "0"], env)
      yield* signInAt(child)
      assert.strictEqual(yield* Effect.promise(() => child.code), 0, child.stderr())

      yield* oauth.configure({ account: { ...FakeOAuthServer.defaultAccount, accountId: "99999999-2222-4333-8444-555555555555" } })
      const second = yield* commandUrl("bob", first.key)
      yield* oauth.clearRequests
      const other = run(["connect", second.command, "--yes", "--no-browser", "--port", "0", "--json"], env)
      yield* signInAt(other)
      assert.strictEqual(yield* Effect.promise(() => other.code), 1, other.stderr())
      const result = JSON.parse(other.stdout()) as { connected: boolean; reason: string }
      assert.deepStrictEqual({ connected: result.connected, reason: result.reason }, { connected: false, reason: "different_account" })
      const revoked = (yield* oauth.requests).filter((r) => r.endpoint === "revoke")
      assert.lengthOf(revoked, 1, "the unused sign-in is revoked")
      assert.strictEqual(yield* Effect.promise(second.state), "different_account")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempHome, (home) => brokerLayer(home)))), Effect.scoped))

  it.live("refuses what is not a connect URL, plain http to another host, a used code, another issuer, and no terminal without --yes", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const runHere = makeRunner({ home, issuer: oauth.url })
      const { command } = yield* commandUrl("carol")
      const code43 = "A".repeat(43)
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
        [["connect", "not a url", "--yes"], 2, "that is not a URL"],
        [["connect", `http://broker.example.com/connect/cli/${code43}`, "--yes"], 2, "must be https"],
        [["connect", `https://broker.example.com/connect/l/${code43}`, "--yes"], 2, "that is not a `subauth connect` URL"],
        [["connect", `https://user:pw@broker.example.com/connect/cli/${code43}`, "--yes"], 2, "that is not a `subauth connect` URL"],
        [["connect", command.replace(/.{43}$/, code43), "--yes"], 1, "this code was used, has expired"],
        [["connect", command], 2, "without a terminal, pass --yes"]
      ]
      for (const [argv, code, message] of cases) {
        const ran = yield* runHere(...argv)
        assert.strictEqual(ran.code, code, `${argv.join(" ")}: ${ran.stderr}`)
        assert.include(ran.stderr, message, argv.join(" "))
      }
      // This subauth signs in elsewhere than the broker: refused before any sign-in.
      const elsewhere = makeRunner({ home, issuer: "http://127.0.0.1:9" })
      const refused = yield* elsewhere("connect", command, "--yes")
      assert.strictEqual(refused.code, 2, refused.stderr)
      assert.include(refused.stderr, `expects a sign-in at ${oauth.url}`)
      assert.notInclude((yield* oauth.requests).map((r) => r.endpoint).join(","), "authorize")
      const help = yield* runHere("connect", "--help")
      assert.include(help.stdout, "npx subauth connect")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempHome, (home) => brokerLayer(home)))), Effect.scoped))
})
