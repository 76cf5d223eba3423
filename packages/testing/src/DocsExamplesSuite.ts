/**
 * Keeps the TypeScript blocks of a README identical to files that the type
 * checker sees, so that examples in docs always compile. Each ```ts block N of
 * a README must equal `<examples>/<name>-N.ts`. Needs vitest: import it as
 * `@subauth/testing/DocsExamplesSuite`.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

/**
 * The ```ts blocks of a Markdown text, in order.
 *
 * @since 0.1.0
 * @category utils
 */
export const tsBlocks = (markdown: string): ReadonlyArray<string> =>
  [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)

/**
 * Registers one test per README: its blocks against `examples`/`name`-N.ts.
 *
 * @since 0.1.0
 * @category utils
 */
export const run = (readmes: ReadonlyArray<{ readonly readme: URL; readonly name: string }>, examples: URL): void => {
  describe("examples in the docs", () => {
    for (const { name, readme } of readmes) {
      it(`${readme.pathname}: every ts block is type-checked as ${name}-N.ts`, () => {
        const blocks = tsBlocks(readFileSync(readme, "utf8"))
        assert.isAbove(blocks.length, 0)
        blocks.forEach((block, i) => {
          const file = new URL(`${name}-${i + 1}.ts`, examples)
          assert.strictEqual(block, readFileSync(file, "utf8"), `block ${i + 1} differs from ${file.pathname}`)
        })
      })
    }
  })
}
