/**
 * Every TypeScript block in the READMEs is a file in `test/examples/`, which
 * `npm run check` type-checks. This test keeps the two identical.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

const root = new URL("../../../", import.meta.url)
const docs: Record<string, string> = {
  "README.md": "readme",
  "packages/core/README.md": "core",
  "packages/node/README.md": "node",
  "packages/testing/README.md": "testing"
}

describe("examples in the docs", () => {
  for (const [doc, name] of Object.entries(docs)) {
    it(`${doc}: every ts block is type-checked as test/examples/${name}-N.ts`, () => {
      const blocks = [...readFileSync(new URL(doc, root), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
      assert.isAbove(blocks.length, 0)
      blocks.forEach((block, i) => {
        const file = new URL(`examples/${name}-${i + 1}.ts`, import.meta.url)
        assert.strictEqual(block, readFileSync(file, "utf8"), `${doc} block ${i + 1} differs from ${file.pathname}`)
      })
    })
  }
})
