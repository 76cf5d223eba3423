/**
 * The READMEs of core, node and testing: their examples live in test/examples/ (the root README's, which use
 * the broker too, are checked by the broker package), and run here against the fakes; testing-N.test.ts are
 * test files of their own.
 */
import { assert } from "@effect/vitest"
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"
import { FakeCodexBackend } from "@subauth/testing"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as core2 from "./examples/core-2.js"
import * as core3 from "./examples/core-3.js"
import * as node1 from "./examples/node-1.js"
import * as node2 from "./examples/node-2.js"
import * as testing1 from "./examples/testing-1.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-docs-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const root = new URL("../../../", import.meta.url)
DocsExamplesSuite.run(
  [
    {
      readme: new URL("packages/core/README.md", root),
      name: "core",
      run: {
        // The example's stream, on the fakes instead of its own layer (which is OpenAI's).
        2: () =>
          Effect.gen(function*() {
            yield* core2.haiku
            const [request] = yield* (yield* FakeCodexBackend.FakeCodexBackend).requests
            assert.include(request?.body, "Answer with one haiku.")
          }).pipe(Effect.provide(FakeCodexBackend.layerTest())),
        // The limits the fake is told, read back through the usage endpoint.
        3: () =>
          Effect.gen(function*() {
            yield* (yield* FakeCodexBackend.FakeCodexBackend).setUsage({
              primary: { usedPercent: 93, windowMinutes: 300, resetsInSeconds: 600 },
              secondary: { usedPercent: 40, windowMinutes: 10080, resetsInSeconds: 86400 },
              plan: "plus"
            })
            const json = yield* core3.showLimits
            assert.strictEqual(json.plan, "plus")
            assert.strictEqual(json.primary?.usedPercent, 93)
            assert.strictEqual(json.secondary?.usedPercent, 40)
          }).pipe(Effect.provide(FakeCodexBackend.layerTest()))
      }
    },
    {
      readme: new URL("packages/node/README.md", root),
      name: "node",
      run: {
        1: () => Effect.scoped(Layer.build(node1.TokensLive)),
        2: () =>
          Effect.gen(function*() {
            const home = yield* tempDir
            const where = yield* node2.whereTokensAre.pipe(
              Effect.provide(node2.TokensLive),
              Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SUBAUTH_STORE", "file"], ["SUBAUTH_HOME", home]])))
            )
            assert.strictEqual(where, `file at ${home}`)
          }).pipe(Effect.scoped)
      }
    },
    {
      readme: new URL("packages/testing/README.md", root),
      name: "testing",
      run: {
        1: () =>
          Effect.map(testing1.test, ({ log, tokens }) => {
            assert.isTrue(Option.isSome(tokens.accountId))
            assert.deepStrictEqual(log, [], "issueTokens sends no request")
          })
      }
    }
  ],
  new URL("examples/", import.meta.url)
)
