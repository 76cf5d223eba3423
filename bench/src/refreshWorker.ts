/**
 * One process of the multi-process refresh benchmark: builds a file store's
 * TokenManager, prints `ready`, waits for a line on stdin (so that every
 * process starts asking at once, and start-up stays out of the measurement),
 * asks for a token `iterations` times against the fake issuer, then prints
 * `{"ok":n,"errors":[...]}` and exits. Started by `multiProcessRefresh.ts`.
 */
import { Provider, TokenManager } from "@subauth/core"
import { NodeTokenManager, NodeTokenStore } from "@subauth/node"
import { Effect, Layer, Logger, LogLevel } from "effect"

const { directory, issuer, iterations } = JSON.parse(process.argv[2] ?? "{}") as {
  readonly directory: string
  readonly issuer: string
  readonly iterations: number
}

const go = Effect.async<void>((resume) => {
  process.stdin.once("data", () => resume(Effect.void))
})

const program = Effect.gen(function*() {
  const manager = yield* TokenManager.TokenManager
  process.stdout.write("ready\n")
  yield* go
  let ok = 0
  const errors: Array<string> = []
  for (let i = 0; i < iterations; i++) {
    const result = yield* Effect.either(manager.get)
    if (result._tag === "Right") ok++
    else errors.push(`${result.left._tag}:${"reason" in result.left ? String(result.left.reason) : ""}`)
  }
  return { ok, errors }
})

const TokensLive = NodeTokenManager.layer().pipe(
  Layer.provide(NodeTokenStore.layerFile(directory)),
  Layer.provide(Provider.layer({ issuer, allowInsecureHttp: true }))
)

Effect.runPromise(program.pipe(Effect.provide(TokensLive), Logger.withMinimumLogLevel(LogLevel.None))).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    process.stdout.write(`${JSON.stringify({ ok: 0, errors: [String(error)] })}\n`)
    process.exit(1)
  }
)
