import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"

export const test = Effect.gen(function* () {
  const server = yield* FakeOAuthServer.FakeOAuthServer
  const tokens = yield* server.issueTokens() // a signed-in user, no HTTP
  yield* server.inject({ endpoint: "token", fault: FakeHttp.status(503), calls: [1, 2] })
  const log = yield* server.requests // every request, headers in order
  return { tokens, log }
}).pipe(Effect.provide(FakeOAuthServer.layer({ accessTokenLifetime: "1 hour" })))
