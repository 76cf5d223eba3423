/**
 * Keeps the TypeScript blocks of a README identical to files that the type
 * checker sees, so that examples in docs always compile, and runs them. Each
 * ```ts block N of a README must equal `<examples>/<name>-N.ts` (or
 * `<name>-N.test.ts`: a block that is a test file, which vitest runs as one).
 * Every other block is run: by a runner given here, or by a test file beside
 * the examples folder that imports it. A block that cannot run says why in its
 * info string (```` ```ts not run: it serves on port 8787 ````). Needs vitest:
 * import it as `@subauth/testing/DocsExamplesSuite`.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"

/**
 * A ```ts (or ```typescript) block of a Markdown text, its fences at the start of a line: its
 * code, and why it is not run when its info string says so
 * (` ```ts not run: <why> `).
 *
 * @since 0.1.0
 * @category models
 */
export interface Block {
  readonly code: string
  readonly notRun: string | undefined
}

/**
 * The ```ts blocks of a Markdown text, in order.
 *
 * @since 0.1.0
 * @category utils
 */
export const blocks = (markdown: string): ReadonlyArray<Block> =>
  [...markdown.matchAll(/^```(?:ts|typescript)(?:[ \t]([^\n]*))?\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => {
    const info = (m[1] ?? "").trim()
    const notRun = /^not run: (.+)$/.exec(info)
    if (info !== "" && notRun === null) throw new Error(`\`\`\`ts ${info}: the only info a ts block takes is "not run: <why>"`)
    return { code: m[2]!, notRun: notRun?.[1] }
  })

/**
 * The code of the ```ts blocks of a Markdown text, in order.
 *
 * @since 0.1.0
 * @category utils
 */
export const tsBlocks = (markdown: string): ReadonlyArray<string> => blocks(markdown).map((block) => block.code)

/**
 * How a block is run: an effect or a promise that uses the example's exports
 * (run with the live clock, as `it.live` does), or the file name of a test,
 * beside the examples folder, that imports the example.
 *
 * @since 0.1.0
 * @category models
 */
export type Runner = (() => Effect.Effect<unknown, unknown> | PromiseLike<unknown>) | string

/**
 * A README and how its blocks run, by block number (from 1).
 *
 * @since 0.1.0
 * @category models
 */
export interface Readme {
  readonly readme: URL
  readonly name: string
  readonly run?: { readonly [block: number]: Runner }
}

/**
 * Registers, per README: a test that its blocks equal `examples`/`name`-N.ts,
 * one that each block is run or says why not, and one per runner.
 *
 * @since 0.1.0
 * @category utils
 */
export const run = (readmes: ReadonlyArray<Readme>, examples: URL): void => {
  describe("examples in the docs", () => {
    for (const { name, readme, run: runners = {} } of readmes) {
      const file = (n: number) => {
        const test = new URL(`${name}-${n}.test.ts`, examples)
        return existsSync(test) ? { url: test, isTest: true } : { url: new URL(`${name}-${n}.ts`, examples), isTest: false }
      }

      it(`${readme.pathname}: every ts block is type-checked as ${name}-N.ts`, () => {
        const found = blocks(readFileSync(readme, "utf8"))
        assert.isAbove(found.length, 0)
        found.forEach((block, i) => {
          const { url } = file(i + 1)
          assert.strictEqual(block.code, readFileSync(url, "utf8"), `block ${i + 1} differs from ${url.pathname}`)
        })
      })

      it(`${readme.pathname}: every ts block is run, or says why not`, () => {
        const found = blocks(readFileSync(readme, "utf8"))
        for (const key of Object.keys(runners)) {
          assert.isTrue(Number(key) >= 1 && Number(key) <= found.length, `a runner for block ${key}, which does not exist`)
        }
        found.forEach((block, i) => {
          const n = i + 1
          const runner = runners[n]
          const { isTest, url } = file(n)
          const where = `block ${n} (${url.pathname})`
          if (block.notRun !== undefined) {
            assert.isFalse(isTest, `${where} says it is not run, but is a test file`)
            assert.isUndefined(runner, `${where} says it is not run (${block.notRun}), but has a runner`)
          } else if (isTest) {
            assert.isUndefined(runner, `${where} is a test file, which vitest runs: it needs no runner`)
          } else if (typeof runner === "string") {
            const test = new URL(`../${runner}`, examples)
            assert.isTrue(existsSync(test), `${where} is run by ${runner}, which does not exist`)
            const specifier = `./${examples.pathname.replace(/\/$/, "").split("/").pop()}/${name}-${n}.js`
            assert.include(readFileSync(test, "utf8"), `"${specifier}"`, `${where} is run by ${runner}, which does not import it`)
          } else {
            assert.isDefined(runner, `${where} has no runner, and no "not run: <why>" in its info string`)
          }
        })
      })

      for (const [n, runner] of Object.entries(runners)) {
        if (typeof runner === "string") continue
        it.live(`${name}-${n}.ts runs`, () =>
          Effect.suspend(() => {
            const ran = runner()
            return Effect.isEffect(ran) ? ran : Effect.promise(() => ran)
          }))
      }
    }
  })
}
