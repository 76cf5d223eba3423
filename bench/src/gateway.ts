/**
 * The broker's agent gateway (`POST /gateway/v1/chat/completions` with a
 * session key) against a direct in-process `SubscriptionLLM` call, with
 * 1,000 connected users, in the same run and process:
 *
 * - Set-up: the fake issuer and the fake Codex backend on 127.0.0.1, a broker
 *   (its services and HTTP server, as `packages/broker/test/gateway.test.ts`
 *   builds one) on a fresh database, 1,000 users each signed in with tokens
 *   of their own from the fake issuer (their own account id; written through
 *   the broker's token store, as the broker tests do) and each with a session
 *   key made through the API (`POST /v1/users/{id}/sessions`).
 * - Baseline: the same `SubscriptionLLM` the gateway uses for a user (made
 *   the way the gateway makes it, on the broker's token lifecycle for that
 *   user), called directly: `generate` (non-streamed) or `stream` drained
 *   (streamed), with the request the gateway makes of the same body (Chat
 *   Completions translated). What the gateway adds is the rest: HTTP on both
 *   sides, the session key's check (a database read: keys are cached for a
 *   second only, and with 1,000 users every request misses), the per-user
 *   LRU, the usage snapshot, and the translation to and from Chat Completions.
 * - Load: closed-loop clients (1, then 32), each with a keep-alive connection
 *   (`node:http` Agent) for the gateway; requests cycle over the 1,000 users
 *   (their session keys, or their `SubscriptionLLM`s for the baseline).
 *   Every user is sent one request through the gateway before anything is
 *   measured (that makes each user's `SubscriptionLLM`, loads their tokens
 *   and writes their first usage snapshot), then a warm-up of both, then {@link ROUNDS} ABBA rounds of {@link PHASE_MS} each, so drift in
 *   the machine affects both alike.
 * - The gateway keeps 10,000 users' `SubscriptionLLM`s (and the token
 *   lifecycle 10,000 users' tokens) by default: 1,000 users fit. A second
 *   server on the same services with the gateway's LRU at
 *   {@link EVICTING_LRU} shows the cost when they do not (each request then
 *   makes the user's `SubscriptionLLM` anew).
 *
 * Everything (load generator, broker, fake backend and issuer, SQLite) shares
 * this process and the machine's two cores, as in `proxy.ts`, so the
 * gateway's cost shows as ratios against the baseline; the CPU per request is
 * this whole process's.
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Broker, BrokerDatabase, BrokerServer, Connections, KeyWrap, SqlTokenStore, Tenants } from "@subauth/broker"
import { SecureRandom, SubscriptionLLM, TokenManager } from "@subauth/core"
import { ChatCompletions } from "@subauth/server"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Context, Effect, Either, Layer, Logger, LogLevel, Redacted, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { Agent, request } from "node:http"
import { loadavg } from "node:os"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { type Engine, freshDatabase, postgresProblem } from "./databases.js"
import { percentile, round3, write } from "./results.js"

const USERS = 1_000
const CLIENT_LEVELS = [1, 32] as const
const EVICTING_LRU = 250
const WARM_UP_MS = 1_000
const ROUNDS = 4
const PHASE_MS = 1_250
const MODEL = "gpt-5.5"
// A typical short answer, as in proxy.ts: 400 characters in 20 deltas.
const ANSWER = "The quick brown fox jumps over the lazy dog. ".repeat(9).slice(0, 400)

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const userId = (i: number) => `user-${String(i).padStart(4, "0")}`
const round1 = (x: number) => Number(x.toFixed(1))
const round2 = (x: number) => Number(x.toFixed(2))

// --- the load generator ----------------------------------------------------------------------------

/** The n-th request, sent and read to the end; rejects unless it is a complete answer. */
type Shot = (n: number) => Promise<void>

interface Phase {
  readonly latencies: Array<number>
  readonly ms: number
  readonly failures: number
  readonly failureSamples: Array<string>
  readonly cpuMs: number
}

/** `clients` closed-loop clients on `shot` for `ms`. */
const phase = async (shot: Shot, clients: number, ms: number, counter: { n: number }): Promise<Phase> => {
  const latencies: Array<number> = []
  const failureSamples: Array<string> = []
  let failures = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const deadline = start + ms
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) {
      const n = counter.n++
      const t0 = performance.now()
      try {
        await shot(n)
        latencies.push(performance.now() - t0)
      } catch (error) {
        failures++
        if (failureSamples.length < 5) failureSamples.push(String(error).slice(0, 300))
      }
    }
  }))
  const elapsed = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { latencies, ms: elapsed, failures, failureSamples, cpuMs: (cpu.user + cpu.system) / 1000 }
}

/** Each of `total` requests once, from `clients` clients. */
const each = async (shot: Shot, total: number, clients: number) => {
  let next = 0
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) await shot(next++)
  }))
}

const summarise = (phases: ReadonlyArray<Phase>) => {
  const latencies = phases.flatMap((p) => p.latencies)
  const ms = phases.reduce((a, p) => a + p.ms, 0)
  const failures = phases.reduce((a, p) => a + p.failures, 0)
  return {
    requests: latencies.length,
    requestsPerSecond: Math.round(latencies.length / (ms / 1000)),
    p50Ms: round3(percentile(latencies, 50)),
    p99Ms: round3(percentile(latencies, 99)),
    // This process's CPU (load generator, broker, fake backend): all of it, per request.
    cpuMsPerRequest: round3(phases.reduce((a, p) => a + p.cpuMs, 0) / Math.max(1, latencies.length + failures)),
    failures,
    failureSamples: [...new Set(phases.flatMap((p) => p.failureSamples))].slice(0, 5)
  }
}

/** Warm-up of both (discarded), then `ROUNDS` ABBA rounds of `PHASE_MS` each; what the gateway adds. */
const compare = async (baseline: Shot, gateway: Shot, clients: number, clearLog: () => Promise<void>) => {
  const counters = { baseline: { n: 0 }, gateway: { n: 0 } }
  await phase(baseline, clients, WARM_UP_MS / 2, counters.baseline)
  await phase(gateway, clients, WARM_UP_MS / 2, counters.gateway)
  const phases = { baseline: [] as Array<Phase>, gateway: [] as Array<Phase> }
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? (["baseline", "gateway"] as const) : (["gateway", "baseline"] as const)
    for (const name of order) {
      phases[name].push(await phase(name === "baseline" ? baseline : gateway, clients, PHASE_MS, counters[name]))
      // The fake backend records every request: the bench's memory, not the gateway's.
      await clearLog()
    }
  }
  const b = summarise(phases.baseline)
  const g = summarise(phases.gateway)
  return {
    clients,
    baseline: b,
    gateway: g,
    p50AddedMs: round3(g.p50Ms - b.p50Ms),
    p99AddedMs: round3(g.p99Ms - b.p99Ms),
    throughputRatio: round2(g.requestsPerSecond / b.requestsPerSecond),
    cpuAddedMsPerRequest: round3(g.cpuMsPerRequest - b.cpuMsPerRequest)
  }
}

// --- HTTP ------------------------------------------------------------------------------------------

/**
 * A keep-alive agent whose idle connections close after 4 s, before the broker's (5 s: `keepAliveTimeout`).
 * Node 20's Agent reads the server's `Keep-Alive: timeout=5` hint only when it has a `timeout` of its own; without
 * one, a connection left idle for 5 s (while the other side is measured) is reused just as the server closes it,
 * and the request fails with ECONNRESET.
 */
const keepAlive = (maxSockets: number) => new Agent({ keepAlive: true, maxSockets, timeout: 4_000 })

const post = (agent: Agent, url: URL, headers: Record<string, string>, body: string) =>
  new Promise<{ readonly status: number; readonly body: string }>((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: url.pathname,
        headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }
      },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => void (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(body)
  })

const memory = () => {
  gc()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsedMB: round1(heapUsed / 2 ** 20), rssMB: round1(rss / 2 ** 20) }
}

// --- databases -------------------------------------------------------------------------------------

// --- one engine ------------------------------------------------------------------------------------

type Mode = "chat" | "chatStreamed"

const runEngine = (engine: Engine, modes: ReadonlyArray<Mode>, evicting: boolean) =>
  Effect.gen(function*() {
    const issuer = yield* FakeOAuthServer.FakeOAuthServer
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    const { location } = yield* freshDatabase(engine)
    const keys = { current: Redacted.make(new Uint8Array(randomBytes(32))), previous: [] }
    const setupStart = performance.now()

    // The broker as the gateway tests build it: services, the HTTP server on a free port of 127.0.0.1.
    const services = Broker.layer({ backend: { baseUrl: backend.baseUrl, originator: "codex_cli_rs" } }).pipe(
      Layer.provideMerge(KeyWrap.layerLocal(keys)),
      Layer.provideMerge(BrokerDatabase.layer(location).pipe(Layer.tap((context) => Effect.provide(BrokerDatabase.migrate, context)))),
      Layer.provideMerge(FakeOAuthServer.layerProvider),
      Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer))
    )
    const context = yield* Layer.build(services)
    const server = yield* Layer.build(BrokerServer.layer({ host: "127.0.0.1", port: 0 }).pipe(Layer.provide(Layer.succeedContext(context))))
    const { url } = Context.get(server, BrokerServer.BrokerServer)
    const small = evicting
      ? Context.get(
        yield* Layer.build(
          BrokerServer.layer({ host: "127.0.0.1", port: 0, gateway: { maxUsersInMemory: EVICTING_LRU } }).pipe(
            Layer.provide(Layer.succeedContext(context))
          )
        ),
        BrokerServer.BrokerServer
      ).url
      : undefined

    // 1,000 users, each signed in with tokens of their own account (valid for 10 hours: nothing refreshes).
    const { key, tenant } = yield* Effect.flatMap(Tenants.Tenants, (t) => t.create("bench")).pipe(Effect.provide(context))
    const store = yield* SqlTokenStore.make({ tenantId: tenant.id }).pipe(Effect.provide(context))
    const users = Array.from({ length: USERS }, (_, i) => userId(i))
    yield* Effect.forEach(users, (user, i) =>
      Effect.flatMap(
        issuer.issueTokens({
          account: { accountId: `${String(i).padStart(8, "0")}-2222-4333-8444-555555555555`, email: `${user}@example.com` },
          accessTokenLifetime: "10 hours"
        }),
        (tokens) => store.set(user, tokens)
      ), { discard: true })

    // A session key each, through the API.
    const sessionKeys = yield* Effect.promise(async () => {
      const agent = keepAlive(8)
      const out: Array<string> = new Array(USERS)
      let next = 0
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < USERS) {
          const i = next++
          const created = await post(
            agent,
            new URL(`${url}/v1/users/${users[i]}/sessions`),
            { authorization: `Bearer ${Redacted.value(key.secret)}` },
            JSON.stringify({ label: "bench", ttl_seconds: 3600 })
          )
          if (created.status !== 201) throw new Error(`creating a session key answered ${created.status}: ${created.body}`)
          out[i] = JSON.parse(created.body).key as string
        }
      }))
      agent.destroy()
      return out
    })

    // The baseline: per user, the SubscriptionLLM the gateway makes, on the same token lifecycle and HTTP client.
    const connections = Context.get(context, Connections.Connections)
    const httpClient = Context.get(context, HttpClient.HttpClient)
    const llms = yield* Effect.forEach(users, (user) =>
      Effect.flatMap(connections.tokenManagerFor(tenant.id, user), (manager) =>
        SubscriptionLLM.make({ baseUrl: backend.baseUrl, originator: "codex_cli_rs", allowInsecureHttp: true }).pipe(
          Effect.provideService(TokenManager.TokenManager, manager),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )), { concurrency: 1 }).pipe(Effect.orDie)
    const setupSeconds = round1((performance.now() - setupStart) / 1000)

    const clearLog = () => Effect.runPromise(backend.clearRequests)
    const bodies = {
      chat: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
      chatStreamed: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], stream: true })
    }
    const translated = Either.getOrThrow(ChatCompletions.translate(JSON.parse(bodies.chat))).request
    const direct: Record<Mode, Shot> = {
      chat: (n) =>
        Effect.runPromise(llms[n % USERS]!.generate(translated)).then((result) => {
          if (!result.text.includes("lazy dog")) throw new Error(`baseline: ${result.text.slice(0, 200)}`)
        }),
      chatStreamed: (n) => Effect.runPromise(Stream.runDrain(llms[n % USERS]!.stream(translated)))
    }
    const expected: Record<Mode, string> = { chat: "lazy dog", chatStreamed: "data: [DONE]" }
    const viaGateway = (base: string, mode: Mode, agent: Agent): Shot => {
      const target = new URL(`${base}/gateway/v1/chat/completions`)
      return (n) =>
        post(agent, target, { authorization: `Bearer ${sessionKeys[n % USERS]}` }, bodies[mode]).then((answer) => {
          if (answer.status !== 200 || !answer.body.includes(expected[mode])) {
            throw new Error(`gateway: ${answer.status} ${answer.body.slice(0, 200)}`)
          }
        })
    }

    return yield* Effect.promise(async () => {
      const agent = keepAlive(Math.max(...CLIENT_LEVELS))
      try {
        // Every user once through the gateway, so that what is measured is the steady state: every user's
        // SubscriptionLLM made, their tokens read (the token lifecycle is the baseline's too) and usage written.
        await clearLog()
        await each(viaGateway(url, "chat", agent), USERS, 32)
        const touched = await Effect.runPromise(backend.requests)
        const accounts = new Set(
          touched.filter((r) => r.endpoint === "responses").map((r) => r.headers.find(([name]) => name === "chatgpt-account-id")?.[1])
        )
        if (accounts.size !== USERS) throw new Error(`the backend saw ${accounts.size} accounts, not ${USERS}`)
        await clearLog()

        const before = memory()
        const cases: Record<string, Array<Awaited<ReturnType<typeof compare>>>> = {}
        for (const mode of modes) {
          cases[mode] = []
          for (const clients of CLIENT_LEVELS) cases[mode].push(await compare(direct[mode], viaGateway(url, mode, agent), clients, clearLog))
        }
        const after = memory()
        if (small !== undefined) {
          cases.chatEvictingLru = []
          for (const clients of CLIENT_LEVELS) {
            cases.chatEvictingLru.push(await compare(direct.chat, viaGateway(small, "chat", agent), clients, clearLog))
          }
        }
        return {
          engine,
          setupSeconds,
          distinctAccountsSeenByBackend: accounts.size,
          cases,
          memory: { beforeMeasuring: before, afterMeasuring: after, heapGrowthMB: round1(after.heapUsedMB - before.heapUsedMB) }
        }
      } finally {
        agent.destroy()
      }
    })
  }).pipe(Effect.scoped)

export const run = async () => {
  const loadAverageBefore = loadavg().map(round2)
  const started = performance.now()
  const engines = await Effect.runPromise(
    Effect.gen(function*() {
      const sqlite = yield* runEngine("sqlite", ["chat", "chatStreamed"], true)
      const problem = yield* postgresProblem
      const postgres = problem === undefined ? yield* runEngine("postgres", ["chat"], false) : { engine: "postgres" as const, skipped: problem }
      return { sqlite, postgres }
    }).pipe(
      Effect.provide(
        FakeCodexBackend.layer({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER, { chunks: 20 })] }) }).pipe(
          Layer.provideMerge(FakeOAuthServer.layer()),
          Layer.orDie
        )
      ),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
  const measured = [engines.sqlite, ...("skipped" in engines.postgres ? [] : [engines.postgres])]
  const headline = (e: (typeof measured)[number]) =>
    Object.fromEntries(Object.entries(e.cases).map(([mode, levels]) => [
      mode,
      Object.fromEntries(levels.map((c) => [`clients${c.clients}`, {
        baselineRequestsPerSecond: c.baseline.requestsPerSecond,
        gatewayRequestsPerSecond: c.gateway.requestsPerSecond,
        throughputRatio: c.throughputRatio,
        baselineP50Ms: c.baseline.p50Ms,
        gatewayP50Ms: c.gateway.p50Ms,
        p50AddedMs: c.p50AddedMs,
        baselineP99Ms: c.baseline.p99Ms,
        gatewayP99Ms: c.gateway.p99Ms,
        cpuAddedMsPerRequest: c.cpuAddedMsPerRequest
      }]))
    ]))
  const failures = measured.reduce(
    (n, e) => n + Object.values(e.cases).flat().reduce((m, c) => m + c.baseline.failures + c.gateway.failures, 0),
    0
  )
  const result = {
    users: USERS,
    clientLevels: CLIENT_LEVELS,
    answer: `${ANSWER.length} characters in 20 deltas`,
    baseline: "the user's SubscriptionLLM (made as the gateway makes it, on the broker's token lifecycle) called in-process: " +
      "generate, or stream drained, with the request the gateway makes of the same Chat Completions body",
    load: `closed loop, keep-alive node:http connections; every user sent one request first, then ${WARM_UP_MS} ms warm-up, ` +
      `${ROUNDS} ABBA rounds of ${PHASE_MS} ms per side; requests cycle over the ${USERS} users' session keys`,
    lru: {
      gatewayUsersInMemory: 10_000,
      tokenLifecycleUsersInMemory: TokenManager.DEFAULT_MAX_PROFILES,
      note: `both defaults exceed ${USERS} users, so the main cases keep every user; chatEvictingLru is a second server ` +
        `with the gateway's LRU at ${EVICTING_LRU} (the tokens stay cached), so every request makes its user's SubscriptionLLM anew`
    },
    summary: {
      sqlite: headline(engines.sqlite),
      postgres: "skipped" in engines.postgres ? { skipped: engines.postgres.skipped } : headline(engines.postgres)
    },
    sqlite: engines.sqlite,
    postgres: engines.postgres,
    failedRequests: failures,
    runSeconds: round1((performance.now() - started) / 1000),
    // The machine is shared: other work running at the same time shows in the load average.
    loadAverage: { before: loadAverageBefore, after: loadavg().map(round2) },
    target: "none set by the issue: reported as what the gateway adds over the direct call (p50 added, req/s ratio); " +
      "met when no request failed",
    meetsTarget: failures === 0
  }
  write("gateway", result)
  return result
}
