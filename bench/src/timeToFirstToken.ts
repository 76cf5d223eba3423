/**
 * Time to first token: from the call to the first text delta of the fake
 * backend's stream, through `SubscriptionLLM.stream` (token from the
 * TokenManager, request building, SSE decoding, typed events) over node:http
 * and over fetch, next to a raw `fetch` of the same stream with the same token
 * that stops at the first `response.output_text.delta` line. Interleaved
 * rounds against one fake backend on 127.0.0.1; medians.
 */
import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { SubscriptionLLM, TokenManager, TokenStore } from "@subauth/core"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Context, Effect, Layer, Logger, LogLevel, Option, Redacted, Stream } from "effect"
import { median, write } from "./results.js"

const ROUNDS = 300
const WARMUP = 20

const request: SubscriptionLLM.Request = { input: [SubscriptionLLM.userMessage("hi")], conversationId: "bench" }

export const run = async () => {
  const result = await Effect.runPromise(
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      yield* Effect.orDie(FakeCodexBackend.signIn)
      const manager = yield* TokenManager.TokenManager
      const viaNode = Context.get(
        yield* Layer.build(SubscriptionLLM.layer(backend.clientOptions).pipe(Layer.provide(NodeHttpClient.layer))),
        SubscriptionLLM.SubscriptionLLM
      )
      const viaFetch = Context.get(
        yield* Layer.build(SubscriptionLLM.layer(backend.clientOptions).pipe(Layer.provide(FetchHttpClient.layer))),
        SubscriptionLLM.SubscriptionLLM
      )
      const tokens = yield* manager.get
      const body = JSON.stringify(SubscriptionLLM.buildBody(request, { model: SubscriptionLLM.DEFAULT_MODEL, reasoning: { effort: "medium" }, conversationId: "bench" }).body)
      const headers = {
        "session-id": "bench",
        accept: "text/event-stream",
        "content-type": "application/json",
        authorization: `Bearer ${Redacted.value(tokens.accessToken)}`,
        "chatgpt-account-id": Option.getOrThrow(tokens.accountId),
        originator: SubscriptionLLM.DEFAULT_ORIGINATOR,
        "user-agent": "bench"
      }
      // The baseline: fetch, read until the first delta line, stop.
      const raw = Effect.promise(async () => {
        const t0 = performance.now()
        const response = await fetch(`${backend.baseUrl}/responses`, { method: "POST", headers, body })
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ""
        for (;;) {
          const { done, value } = await reader.read()
          if (done) throw new Error("no delta")
          text += decoder.decode(value, { stream: true })
          if (text.includes("\ndata: {\"type\":\"response.output_text.delta\"")) break
        }
        const t = performance.now() - t0
        await reader.cancel()
        return t
      })
      // Timed when the first delta arrives, not when the abandoned stream has been torn down.
      const first = (llm: SubscriptionLLM.SubscriptionLLM.Service) =>
        Effect.suspend(() => {
          const t0 = performance.now()
          let t = 0
          return llm.stream(request).pipe(
            Stream.filter((e) => e._tag === "TextDelta"),
            Stream.take(1),
            Stream.runForEach(() => Effect.sync(() => void (t = performance.now() - t0))),
            Effect.map(() => t)
          )
        })
      const samples = { raw: [] as Array<number>, node: [] as Array<number>, fetch: [] as Array<number> }
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        const r = yield* raw
        const n = yield* first(viaNode)
        const f = yield* first(viaFetch)
        if (i >= WARMUP) {
          samples.raw.push(r)
          samples.node.push(n)
          samples.fetch.push(f)
        }
      }
      return samples
    }).pipe(
      Effect.scoped,
      Effect.provide(
        TokenManager.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(FakeOAuthServer.layerProvider),
          Layer.provideMerge(FakeCodexBackend.layer()),
          Layer.provideMerge(FakeOAuthServer.layer()),
          Layer.provideMerge(NodeHttpClient.layer)
        )
      ),
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
  )
  const raw = median(result.raw)
  const node = median(result.node)
  const viaFetch = median(result.fetch)
  const out = {
    rounds: ROUNDS,
    rawFetchMs: Number(raw.toFixed(3)),
    subscriptionLLMNodeHttpMs: Number(node.toFixed(3)),
    subscriptionLLMFetchMs: Number(viaFetch.toFixed(3)),
    addedNodeHttpMs: Number((node - raw).toFixed(3)),
    addedFetchMs: Number((viaFetch - raw).toFixed(3)),
    nodeHttpToRawFetch: Number((node / raw).toFixed(2)),
    fetchToRawFetch: Number((viaFetch / raw).toFixed(2)),
    target: "SubscriptionLLM adds less than 2 ms to the time to first token at the median (same client: fetch)",
    meetsTarget: viaFetch - raw < 2
  }
  write("time-to-first-token", out)
  return out
}
