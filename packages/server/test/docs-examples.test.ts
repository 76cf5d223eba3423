/**
 * Every TypeScript block in this package's README is a file in
 * `test/examples/`, which `npm run check` type-checks. This test keeps the two
 * identical.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

describe("examples in the README", () => {
  it("every ts block is type-checked as test/examples/readme-N.ts", () => {
    const blocks = [...readFileSync(new URL("../README.md", import.meta.url), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)]
      .map((m) => m[1])
    assert.isAbove(blocks.length, 0)
    blocks.forEach((block, i) => {
      const file = new URL(`examples/readme-${i + 1}.ts`, import.meta.url)
      assert.strictEqual(block, readFileSync(file, "utf8"), `README.md block ${i + 1} differs from ${file.pathname}`)
    })
  })
})
