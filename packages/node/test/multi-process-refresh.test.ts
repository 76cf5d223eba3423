/**
 * The complaint this package exists for: several processes sharing one login
 * burn each other's single-use refresh tokens. Eight real Node processes share
 * one file store and ask for a token 200 times each while tokens expire.
 */
import { assert, describe, it } from "@effect/vitest"
import { NodeFileSystem } from "@effect/platform-node"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect, Option, Redacted, TestClock, TestContext } from "effect"
import { signedInDue, spawnWorker } from "./support.js"

const PROCESSES = 8
const ITERATIONS = 200
const PAUSE_MS = 15

describe("many processes, one file store", () => {
  it.live(
    `${PROCESSES} processes × ${ITERATIONS} requests across expiries: one refresh per expiry, no reuse, valid tokens at the end`,
    () =>
      Effect.gen(function*() {
        // Due from the start: the first request of every process meets an expiry.
        const { directory, server, signedIn, store } = yield* signedInDue

        const workers = yield* Effect.forEach(
          Array.from({ length: PROCESSES }),
          () =>
            spawnWorker({
              mode: "refresh",
              store: { kind: "file", directory },
              issuer: server.url,
              iterations: ITERATIONS,
              pauseMs: PAUSE_MS,
              leeway: "1 second",
              lock: { stale: 10_000, update: 2_000 }
            }),
          { concurrency: "unbounded" }
        )
        const reports = yield* Effect.forEach(workers, (w) => w.next("done"), { concurrency: "unbounded" })

        for (const [i, report] of reports.entries()) {
          assert.deepStrictEqual(report.errors, [], `process ${i} saw errors:\n${workers[i]!.output()}`)
          assert.strictEqual(report.ok, ITERATIONS)
          // Valid when the process finished: signed by the issuer, not expired, grant alive.
          const valid = yield* Effect.zipRight(
            TestClock.setTime(Number(report.at)),
            server.verifyAccessToken(String(report.final))
          ).pipe(Effect.provide(TestContext.TestContext))
          assert.isTrue(Option.isSome(valid), `process ${i} ended with a token the issuer rejects`)
        }

        const sent = (yield* server.requests)
          .filter((r) => r.endpoint === "token")
          .map((r) => r.fields.find(([k]) => k === "refresh_token")?.[1])
        // Every refresh spent a different refresh token: nobody refreshed an expiry someone else had refreshed
        // (that would resend the token it read, and be refused as reused).
        assert.strictEqual(new Set(sent).size, sent.length, "a refresh token was sent twice")
        assert.strictEqual(sent[0], Redacted.value(Option.getOrThrow(signedIn.refreshToken)))
        // The pauses alone outlast a token's life: the run crossed more than the first expiry.
        assert.isAtLeast(sent.length, 2)
        // The chain ends in the store, with a refresh token not yet spent.
        const stored = Option.getOrThrow(yield* store.get("default"))
        assert.notInclude(sent, Redacted.value(Option.getOrThrow(stored.refreshToken)))
      }).pipe(
        Effect.provide(FakeOAuthServer.layer({ accessTokenLifetime: "3 seconds" })),
        Effect.provide(NodeFileSystem.layer),
        Effect.scoped
      ),
    60_000
  )
})
