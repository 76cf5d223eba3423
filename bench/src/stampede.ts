/**
 * 10,000 fibers ask for a token at the instant of expiry, against the fake
 * issuer over loopback: how many refresh requests reach it (must be 1), and the
 * wall time next to two baselines measured in the same run: one plain refresh
 * round trip, and the same 10,000-fiber fan-out over an effect that does
 * nothing (what Effect itself costs to start and join that many fibers).
 */
import { NodeTokenManager } from "@subauth/node"
import { NodeHttpClient } from "@effect/platform-node"
import { Provider, TokenEndpoint, TokenSet, TokenStore, TokenManager } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Context, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { median, write } from "./results.js"

const FIBERS = 10_000
const ROUNDS = 7

const round = Effect.gen(function*() {
  const server = yield* FakeOAuthServer.FakeOAuthServer
  const store = yield* TokenStore.makeMemory
  const provider = yield* Provider.Provider
  // Baseline: one refresh round trip, straight through the token endpoint.
  const spare = Option.getOrThrow((yield* server.issueTokens()).refreshToken)
  const t0 = performance.now()
  yield* TokenEndpoint.refresh({ refreshToken: spare, reason: "scheduled", profile: "bench" })
  const single = performance.now() - t0

  const issued = yield* server.issueTokens()
  yield* store.set("default", new TokenSet.TokenSet({ ...issued, expiresAt: issued.obtainedAt }))
  yield* server.clearRequests
  const context = yield* Layer.build(NodeTokenManager.layer().pipe(
    Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
    Layer.provide(Layer.succeed(Provider.Provider, provider))
  ))
  const manager = Context.get(context, TokenManager.TokenManager)
  const t2 = performance.now()
  yield* Effect.all(Array.from({ length: FIBERS }, () => Effect.succeed(issued)), { concurrency: "unbounded" })
  const fanOut = performance.now() - t2

  const t1 = performance.now()
  const results = yield* Effect.all(Array.from({ length: FIBERS }, () => manager.get), { concurrency: "unbounded" })
  const stampede = performance.now() - t1
  const refreshes = (yield* server.requests).filter((r) => r.endpoint === "token").length
  const distinct = new Set(results.map((r) => Redacted.value(r.accessToken))).size
  return { single, stampede, fanOut, refreshes, distinct }
}).pipe(Effect.scoped)

export const run = async () => {
  const rounds = await Effect.runPromise(
    Effect.gen(function*() {
      const out = []
      for (let i = 0; i < ROUNDS + 1; i++) out.push(yield* round)
      return out.slice(1)
    }).pipe(
      Effect.provide(FakeOAuthServer.layerProvider.pipe(Layer.provideMerge(FakeOAuthServer.layer()))),
      Effect.provide(NodeHttpClient.layer),
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
  )
  const single = median(rounds.map((r) => r.single))
  const stampede = median(rounds.map((r) => r.stampede))
  const fanOut = median(rounds.map((r) => r.fanOut))
  const result = {
    fibers: FIBERS,
    rounds: ROUNDS,
    refreshRequestsPerRound: rounds.map((r) => r.refreshes),
    distinctTokensPerRound: rounds.map((r) => r.distinct),
    singleRefreshMs: Number(single.toFixed(2)),
    stampedeMs: Number(stampede.toFixed(2)),
    fanOutMs: Number(fanOut.toFixed(2)),
    stampedeToSingleRefresh: Number((stampede / single).toFixed(2)),
    stampedeToFanOut: Number((stampede / fanOut).toFixed(2)),
    target: "exactly 1 refresh request per round",
    meetsTarget: rounds.every((r) => r.refreshes === 1 && r.distinct === 1)
  }
  write("stampede", result)
  return result
}
