/**
 * `subauth broker demo`: the broker end to end in a few seconds, with no
 * account. A fake issuer and a fake Codex backend on 127.0.0.1, a broker on a
 * temporary SQLite database in this process; then what an app and its agents
 * do: a tenant, a user connected by device code, a token, a model call through
 * the broker, sign-out, and the audit trail. Everything is removed at the end.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Broker, BrokerApi, BrokerClient, BrokerDatabase, BrokerServer, BrokerTokenManager, KeyWrap, MasterKey, Tenants } from "@subauth/broker"
import { SecureRandom, SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Clock, Context, DateTime, Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { join } from "node:path"
import { ExitCode } from "../internal/errors.js"
import { temporaryDirectory } from "../internal/sandbox.js"
import * as Output from "../Output.js"
import { Settings } from "../Settings.js"

const ANSWER = "Hello from the fake backend, through a token the broker issued: the agent never saw a refresh token."

// A secret shown in the demo: its start only, as a log or a screen should.
const peek = (secret: Redacted.Redacted<string>) => `${Redacted.value(secret).slice(0, 12)}…`

export const run = Effect.scoped(Effect.gen(function*() {
  const settings = yield* Settings
  const output = Output.make({
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stdout.write(t)
  }, { color: settings.color, stderrIsTTY: settings.stdoutIsTTY })
  const { style } = output
  const started = yield* Clock.currentTimeMillis
  const home = yield* temporaryDirectory("subauth-broker-demo-")

  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 1, deviceInterval: "1" })
  const backend = yield* FakeCodexBackend.make({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER, { chunks: 12 })] }) }).pipe(
    Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth)
  )
  const location: BrokerDatabase.Location = { _tag: "Sqlite", filename: join(home, "broker.db") }
  const keys = { current: yield* MasterKey.generate.pipe(Effect.provide(SecureRandom.layer)), previous: [] }
  const stack = BrokerServer.layer({ port: 0 }).pipe(
    Layer.provideMerge(Broker.layer({
      backend: { baseUrl: backend.baseUrl, originator: SubscriptionLLM.DEFAULT_ORIGINATOR },
      sessions: { tick: Duration.millis(200) }
    })),
    Layer.provideMerge(KeyWrap.layerLocal(keys)),
    Layer.provideMerge(BrokerDatabase.layer(location).pipe(Layer.tap((c) => Effect.provide(BrokerDatabase.migrate, c)))),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(Layer.succeed(FakeOAuthServer.FakeOAuthServer, oauth)),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )
  const context = yield* Layer.build(stack)
  const server = Context.get(context, BrokerServer.BrokerServer)
  const step = (title: string) => output.info(`\n${style.bold(`▸ ${title}`)}`)
  const show = (line: string) => output.info(`  ${line}`)

  yield* output.info(
    `${style.bold("subauth broker sandbox")}: a fake issuer (${oauth.url}) and a fake Codex backend, and a broker on\n` +
      `${server.url} with a temporary SQLite database (${location.filename}), all in this process.`
  )

  yield* step("An operator creates a tenant for an app (subauth broker tenant create)")
  const { tenant, key } = yield* Effect.flatMap(Tenants.Tenants, (t) => t.create("demo app")).pipe(Effect.provide(context))
  yield* show(`tenant ${tenant.id}, API key ${key.id}: ${peek(key.secret)} (printed once, stored as a hash)`)

  const client = yield* BrokerClient.make({ url: server.url, apiKey: key.secret }).pipe(Effect.provide(NodeHttpClient.layer))

  yield* step("The app starts a connect session for its user alice, who accepted the terms (POST /v1/connect-sessions)")
  const session = yield* client.connect.create({ payload: new BrokerApi.CreateSessionRequest({ user_id: "alice", method: "device", accept_terms: true }) })
  yield* show(`session ${session.id}: ${session.status}`)
  yield* show(`alice is shown: open ${session.device?.verification_uri} and enter ${style.bold(session.device?.user_code ?? "")}`)

  yield* step("Alice enters the code (the fake issuer approves it); the broker polls and stores her sign-in, encrypted")
  let state = session
  while (state.status === "pending") {
    yield* Effect.sleep("250 millis")
    state = yield* client.connect.get({ path: { id: session.id } })
  }
  const connection = yield* client.users.connection({ path: { user_id: "alice" } })
  yield* show(`${state.status}: ${connection.email} (${connection.plan}), account ${connection.account_id}`)

  yield* step("An agent asks for a short-lived token (POST /v1/users/alice/token): never the refresh token")
  const token = yield* client.users.token({ path: { user_id: "alice" }, payload: new BrokerApi.TokenRequest({ label: "demo agent", min_ttl_seconds: 600 }) })
  yield* show(`access token ${peek(token.access_token)}, valid until ${DateTime.formatIso(token.expires_at)}`)
  yield* show(`LLM: ${token.llm.base_url} with ${Object.keys(token.llm.headers).join(", ")}`)

  yield* step("A program runs on alice's subscription through the broker (SubscriptionLLM over BrokerTokenManager)")
  const result = yield* SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("What does the broker do?")] }).pipe(
    Effect.provide(SubscriptionLLM.layer(backend.clientOptions).pipe(
      Layer.orDie,
      Layer.provide(BrokerTokenManager.layer({ url: server.url, apiKey: key.secret, userId: "alice", label: "demo program" })),
      Layer.provide(NodeHttpClient.layer)
    ))
  )
  yield* show(style.cyan(result.text))

  yield* step("The app signs alice out: revoked at the issuer, tokens deleted (DELETE /v1/users/alice/connection)")
  const out = yield* client.users.signOut({ path: { user_id: "alice" }, urlParams: {} })
  yield* show(`signed in before: ${out.signed_in}; revocation: ${out.revoke}`)

  yield* step("The audit trail (GET /v1/audit?user_id=alice): who, what, when; no secret")
  const audit = yield* client.audit.list({ urlParams: { user_id: "alice" } })
  for (const event of audit.events) {
    const detail = Object.entries(event.detail).map(([k, v]) => `${k}=${v}`).join(" ")
    yield* show(`${DateTime.formatIso(event.at).slice(11, 23)}  ${event.event.padEnd(22)} ${event.actor.padEnd(26)} ${style.dim(detail)}`)
  }

  const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
  yield* output.info(
    `\n${style.green("Done")} in ${seconds.toFixed(1)} s; the sandbox is gone. Run your own: ${style.bold("subauth broker serve")} ` +
      `and ${style.bold("subauth broker tenant create NAME")}.`
  )
  return ExitCode.Ok
}))
