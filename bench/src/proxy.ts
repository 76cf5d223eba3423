/**
 * The OpenAI-compatible proxy (`@subauth/server`) against the fake Codex
 * backend, next to the fake backend called directly, in the same run and
 * process, over loopback with `fetch` as the client for both:
 *
 * - latency: sequential streamed requests read to the end, p50 and p99 —
 *   the backend's `/responses` stream directly with `fetch` (baseline), the
 *   same turn through `SubscriptionLLM.stream` in-process (what a TypeScript
 *   program pays without the proxy: second baseline), and through the proxy as
 *   a streamed Chat Completion and as a streamed Responses call;
 * - throughput: the same requests from 16 concurrent clients, requests per
 *   second (the in-process `SubscriptionLLM` included: its decoding, not the
 *   proxy, is most of the difference to the raw baseline);
 * - memory: heap and RSS (after a full GC) before and after 1,000 streamed
 *   completions through the proxy: what it keeps per request must not grow.
 *
 * Everything (client, proxy, backend, issuer) shares this process and its
 * two cores, so the proxy's cost shows as a ratio against the baseline.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { SubscriptionLLM, TokenManager } from "@subauth/core"
import { OpenAIProxy } from "@subauth/server"
import { FakeCodexBackend } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Option, Redacted, Stream } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { percentile, round3, write } from "./results.js"

const WARMUP = 50
const SEQUENTIAL = 400
const CONCURRENCY = 16
const CONCURRENT = 1_000
const MEMORY_COMPLETIONS = 1_000

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const KEY = Redacted.make("sk-subauth-bench-0000000000000000000000000000")
// A typical short answer: 400 characters in 20 deltas.
const ANSWER = "The quick brown fox jumps over the lazy dog. ".repeat(9).slice(0, 400)

/** One request: sends it and reads the body to the end; the time in ms. */
type Shot = () => Promise<number>

/** `last` is how a complete stream ends; anything else is a failed benchmark. */
const shot = (url: string, headers: Record<string, string>, body: string, last: string): Shot => async () => {
  const t0 = performance.now()
  const response = await fetch(url, { method: "POST", headers, body })
  const text = await response.text()
  if (response.status !== 200 || !text.includes(last)) throw new Error(`${url}: ${response.status} ${text.slice(-300)}`)
  return performance.now() - t0
}

const sequential = async (run: Shot, n: number) => {
  const times: Array<number> = []
  for (let i = 0; i < n; i++) times.push(await run())
  return times
}

const concurrent = async (run: Shot, total: number, clients: number) => {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next++ < total) await run()
  }))
  return total / ((performance.now() - t0) / 1000)
}

const memory = () => {
  gc()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsedMB: Number((heapUsed / 2 ** 20).toFixed(2)), rssMB: Number((rss / 2 ** 20).toFixed(2)) }
}

export const run = async () => {
  const setup = Effect.gen(function*() {
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    yield* backend.configure({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER, { chunks: 20 })] }) })
    const proxy = yield* OpenAIProxy.make({ apiKey: KEY, port: 0 })
    const tokens = yield* (yield* TokenManager.TokenManager).get
    const request: SubscriptionLLM.Request = { input: [SubscriptionLLM.userMessage("hi")], conversationId: "bench" }
    const direct = shot(
      `${backend.baseUrl}/responses`,
      {
        "session-id": "bench",
        accept: "text/event-stream",
        "content-type": "application/json",
        authorization: `Bearer ${Redacted.value(tokens.accessToken)}`,
        "chatgpt-account-id": Option.getOrThrow(tokens.accountId),
        originator: SubscriptionLLM.DEFAULT_ORIGINATOR
      },
      JSON.stringify(
        SubscriptionLLM.buildBody(request, { model: "gpt-5.5", reasoning: { effort: "medium" }, conversationId: "bench" }).body
      ),
      "\"response.completed\""
    )
    const headers = { authorization: `Bearer ${Redacted.value(KEY)}`, "content-type": "application/json" }
    const chat = shot(
      `${proxy.url}/v1/chat/completions`,
      headers,
      JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], stream: true }),
      "data: [DONE]"
    )
    const responses = shot(
      `${proxy.url}/v1/responses`,
      headers,
      JSON.stringify({ model: "gpt-5.5", input: "hi", stream: true }),
      "\"response.completed\""
    )
    const llm = yield* SubscriptionLLM.SubscriptionLLM
    const inProcess: Shot = () => {
      const t0 = performance.now()
      return Effect.runPromise(Stream.runDrain(llm.stream({ ...request, model: "gpt-5.5" }))).then(() => performance.now() - t0)
    }
    // The fake backend logs every request; that log is the test's memory, not the proxy's.
    const clearLog = () => Effect.runPromise(backend.clearRequests)
    return { direct, inProcess, chat, responses, clearLog }
  })

  const result = await Effect.runPromise(
    Effect.gen(function*() {
      const { chat, clearLog, direct, inProcess, responses } = yield* setup
      return yield* Effect.promise(async () => {
        for (const f of [direct, inProcess, chat, responses]) await sequential(f, WARMUP)
        // Interleaved, so that drift in the machine affects all alike.
        const latency = { direct: [] as Array<number>, inProcess: [] as Array<number>, chat: [] as Array<number>, responses: [] as Array<number> }
        for (let i = 0; i < SEQUENTIAL; i++) {
          latency.direct.push(await direct())
          latency.inProcess.push(await inProcess())
          latency.chat.push(await chat())
          latency.responses.push(await responses())
        }
        const rps = {
          direct: await concurrent(direct, CONCURRENT, CONCURRENCY),
          inProcess: await concurrent(inProcess, CONCURRENT, CONCURRENCY),
          chat: await concurrent(chat, CONCURRENT, CONCURRENCY),
          responses: await concurrent(responses, CONCURRENT, CONCURRENCY)
        }
        await clearLog()
        const before = memory()
        await concurrent(chat, MEMORY_COMPLETIONS, CONCURRENCY)
        await clearLog()
        const after = memory()
        return { latency, rps, before, after }
      })
    }).pipe(
      Effect.scoped,
      Effect.provide(
        // The signed-in fakes, and the proxy's SubscriptionLLM over node:http, as `subauth serve` builds it.
        FakeCodexBackend.layerClient().pipe(Layer.provide(NodeHttpClient.layer), Layer.provideMerge(FakeCodexBackend.layerTest()))
      ),
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
  )

  const stats = (xs: ReadonlyArray<number>) => ({ p50Ms: round3(percentile(xs, 50)), p99Ms: round3(percentile(xs, 99)) })
  const direct = stats(result.latency.direct)
  const inProcess = stats(result.latency.inProcess)
  const chat = stats(result.latency.chat)
  const responses = stats(result.latency.responses)
  const heapGrowthMB = Number((result.after.heapUsedMB - result.before.heapUsedMB).toFixed(2))
  const out = {
    answer: `${ANSWER.length} characters in 20 deltas`,
    sequentialRequests: SEQUENTIAL,
    concurrentClients: CONCURRENCY,
    concurrentRequests: CONCURRENT,
    latency: { direct, subscriptionLLMInProcess: inProcess, proxyChatCompletions: chat, proxyResponses: responses },
    requestsPerSecond: {
      direct: Math.round(result.rps.direct),
      subscriptionLLMInProcess: Math.round(result.rps.inProcess),
      proxyChatCompletions: Math.round(result.rps.chat),
      proxyResponses: Math.round(result.rps.responses)
    },
    addedP50Ms: {
      proxyChatOverDirect: round3(chat.p50Ms - direct.p50Ms),
      proxyChatOverInProcess: round3(chat.p50Ms - inProcess.p50Ms)
    },
    ratios: {
      chatP50ToInProcess: Number((chat.p50Ms / inProcess.p50Ms).toFixed(2)),
      chatP50ToDirect: Number((chat.p50Ms / direct.p50Ms).toFixed(2)),
      chatP99ToDirect: Number((chat.p99Ms / direct.p99Ms).toFixed(2)),
      responsesP50ToDirect: Number((responses.p50Ms / direct.p50Ms).toFixed(2)),
      chatRpsToDirect: Number((result.rps.chat / result.rps.direct).toFixed(2)),
      chatRpsToInProcess: Number((result.rps.chat / result.rps.inProcess).toFixed(2)),
      responsesRpsToDirect: Number((result.rps.responses / result.rps.direct).toFixed(2))
    },
    memory: { completions: MEMORY_COMPLETIONS, before: result.before, after: result.after, heapGrowthMB },
    target: "the proxy's own cost (a streamed Chat Completion over the same turn through SubscriptionLLM in-process) " +
      "is under 5 ms at p50; the heap grows by less than 10 MB over 1,000 streamed completions",
    meetsTarget: chat.p50Ms - inProcess.p50Ms < 5 && heapGrowthMB < 10
  }
  write("proxy", out)
  return out
}
