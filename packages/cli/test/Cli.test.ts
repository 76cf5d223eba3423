import { assert, describe, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { readFileSync } from "node:fs"
import * as Cli from "../src/Cli.js"

const captured = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const log = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(args.map(String).join(" ")))
    const console = { ...(yield* Console.consoleWith(Effect.succeed)), log, info: log }
    yield* Cli.run(["node", "subauth", ...argv]).pipe(Console.withConsole(console as Console.Console))
    return out.join("\n")
  }).pipe(Effect.provide(NodeContext.layer))

describe("subauth", () => {
  it.effect("--version prints the package version", () =>
    Effect.gen(function*() {
      const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
      assert.strictEqual(Cli.version, pkg.version)
      assert.include(yield* captured(["--version"]), pkg.version)
    }))

  it.effect("--help describes the tool", () =>
    Effect.gen(function*() {
      assert.include(yield* captured(["--help"]), "ChatGPT Plus/Pro subscription")
    }))
})
