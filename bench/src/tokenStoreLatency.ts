/**
 * Read and write latency of the token stores, one operation at a time, next
 * to the memory store measured in the same run: a file store (atomic write
 * with two fsyncs), the encrypted file store (plus AES-GCM) and the Codex
 * `auth.json` store (plus a read of the previous file). A store is read when a
 * process starts and at each refresh, so these set what a refresh costs beyond
 * the network.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { TokenSet, TokenStore } from "@subauth/core"
import { NodeTokenStore } from "@subauth/node"
import { DateTime, Effect, Option, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, write } from "./results.js"

const OPERATIONS = 400
const WARM_UP = 40

// Tokens the size OpenAI's are: JWTs of 1-2 kB.
const tokens = new TokenSet.TokenSet({
  accessToken: Redacted.make(`eyJhbGciOiJSUzI1NiJ9.${"a".repeat(1400)}.${"s".repeat(342)}`),
  refreshToken: Option.some(Redacted.make(`rt_${"r".repeat(60)}`)),
  idToken: Option.some(Redacted.make(`eyJhbGciOiJSUzI1NiJ9.${"eyJlbWFpbCI6ImFAYi5jIn0"}.${"s".repeat(342)}`)),
  expiresAt: DateTime.unsafeMake(Date.now() + 3600_000),
  obtainedAt: DateTime.unsafeMake(Date.now()),
  accountId: Option.some("11111111-2222-4333-8444-555555555555"),
  planType: Option.some("pro"),
  email: Option.some("user@example.com"),
  userId: Option.some("user-1")
})

const percentile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!
const us = (ms: number) => Math.round(ms * 1000)

const measure = (store: TokenStore.TokenStore.Service) =>
  Effect.gen(function*() {
    const time = <A, E>(op: Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const out: Array<number> = []
        for (let i = 0; i < OPERATIONS + WARM_UP; i++) {
          const start = performance.now()
          yield* op
          if (i >= WARM_UP) out.push(performance.now() - start)
        }
        return out
      })
    const writes = yield* time(store.set("default", tokens))
    const reads = yield* time(store.get("default"))
    return {
      readMedianUs: us(median(reads)),
      readP95Us: us(percentile(reads, 0.95)),
      writeMedianUs: us(median(writes)),
      writeP95Us: us(percentile(writes, 0.95))
    }
  })

export const run = async () => {
  const root = mkdtempSync(join(tmpdir(), "subauth-bench-"))
  const stores = await Effect.runPromise(
    Effect.gen(function*() {
      const key = yield* NodeTokenStore.generateKey
      return {
        memory: yield* measure(yield* TokenStore.makeMemory),
        file: yield* measure(yield* NodeTokenStore.makeFile(join(root, "file"))),
        encryptedFile: yield* measure(
          yield* NodeTokenStore.makeEncryptedFile(join(root, "encrypted"), { key: NodeTokenStore.keyFromValue(key) })
        ),
        codex: yield* measure(yield* NodeTokenStore.makeCodex(join(root, "codex")))
      }
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )
  rmSync(root, { recursive: true, force: true })
  const result = {
    operations: OPERATIONS,
    stores,
    fileReadToMemory: Number((stores.file.readMedianUs / Math.max(1, stores.memory.readMedianUs)).toFixed(1)),
    fileWriteToMemory: Number((stores.file.writeMedianUs / Math.max(1, stores.memory.writeMedianUs)).toFixed(1)),
    target: "file store: median read under 1 ms, median write (two fsyncs) under 20 ms",
    meetsTarget: stores.file.readMedianUs < 1_000 && stores.file.writeMedianUs < 20_000
  }
  write("token-store-latency", result)
  return result
}
