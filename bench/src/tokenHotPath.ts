/**
 * Valid-token reads per second: inside one Effect program, through
 * `Effect.runPromise` per read, and a plain-Promise token cache as the baseline,
 * all measured in the same run. No network: the token stays valid throughout.
 */
import { Provider, TokenManager, TokenSet, TokenStore } from "@subauth/core"
import { FetchHttpClient } from "@effect/platform"
import { DateTime, Effect, Layer, Option, Redacted, Runtime } from "effect"
import { median, write } from "./results.js"

const ROUNDS = 7

// What a careful hand-written cache does: check expiry, return the cached token.
class PromiseTokenCache {
  private inflight: Promise<string> | undefined
  constructor(private token: string, private refreshAt: number) {}
  async get(): Promise<string> {
    if (Date.now() < this.refreshAt) return this.token
    this.inflight ??= Promise.resolve("refreshed").finally(() => (this.inflight = undefined))
    return this.inflight
  }
}

const rate = (ops: number, ms: number) => (ops / ms) * 1000

export const run = async () => {
  const now = Date.now()
  const tokens = new TokenSet.TokenSet({
    accessToken: Redacted.make("at-bench"),
    refreshToken: Option.some(Redacted.make("rt-bench")),
    idToken: Option.none(),
    expiresAt: DateTime.unsafeMake(now + 24 * 3600_000),
    obtainedAt: DateTime.unsafeMake(now),
    accountId: Option.some("acct"),
    planType: Option.none(),
    email: Option.none(),
    userId: Option.none()
  })
  const layer = TokenManager.layer().pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provide(Provider.layerOpenAI),
    Layer.provide(FetchHttpClient.layer)
  )
  const runtime = await Effect.runPromise(
    Effect.gen(function*() {
      yield* (yield* TokenStore.TokenStore).set("default", tokens)
      yield* TokenManager.get // load once
      return yield* Effect.runtime<TokenManager.TokenManager>()
    }).pipe(Effect.provide(layer), Effect.scoped)
  )
  const manager = Runtime.runSync(runtime)(TokenManager.TokenManager)

  const inFiberOps = 2_000_000
  const inFiber = Effect.gen(function*() {
    let last: TokenSet.TokenSet | undefined
    for (let i = 0; i < inFiberOps; i++) last = yield* manager.get
    return last
  })
  const runPromiseOps = 200_000
  const baselineOps = 2_000_000
  const cache = new PromiseTokenCache("at-bench", now + 24 * 3600_000 - 300_000)

  const measure = async (ops: number, body: () => Promise<unknown>) => {
    const start = performance.now()
    await body()
    return rate(ops, performance.now() - start)
  }
  const rounds = { inFiber: [] as Array<number>, runPromise: [] as Array<number>, baseline: [] as Array<number> }
  for (let round = 0; round < ROUNDS + 1; round++) {
    const inFiberRate = await measure(inFiberOps, () => Runtime.runPromise(runtime)(inFiber))
    const runPromiseRate = await measure(runPromiseOps, async () => {
      const runP = Runtime.runPromise(runtime)
      for (let i = 0; i < runPromiseOps; i++) await runP(manager.get)
    })
    const baselineRate = await measure(baselineOps, async () => {
      for (let i = 0; i < baselineOps; i++) await cache.get()
    })
    if (round === 0) continue // warm-up
    rounds.inFiber.push(inFiberRate)
    rounds.runPromise.push(runPromiseRate)
    rounds.baseline.push(baselineRate)
  }
  const inFiber_ = median(rounds.inFiber)
  const runPromise_ = median(rounds.runPromise)
  const baseline_ = median(rounds.baseline)
  const result = {
    unit: "valid-token reads per second (median of 7 rounds after a warm-up)",
    inFiberPerSecond: Math.round(inFiber_),
    runPromisePerSecond: Math.round(runPromise_),
    plainPromiseBaselinePerSecond: Math.round(baseline_),
    inFiberToBaseline: Number((inFiber_ / baseline_).toFixed(3)),
    runPromiseToBaseline: Number((runPromise_ / baseline_).toFixed(3)),
    target: "inFiberToBaseline >= 0.25",
    meetsTarget: inFiber_ / baseline_ >= 0.25
  }
  write("token-hot-path", result)
  return result
}
