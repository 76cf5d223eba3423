import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import * as Cli from "../src/Cli.js"
import { makeRunner, tempHome } from "./support.js"

describe("subauth", () => {
  it.live("--version prints the package version", () =>
    Effect.gen(function*() {
      const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
      assert.strictEqual(Cli.version, pkg.version)
      const run = makeRunner({ home: yield* tempHome })
      const result = yield* run("--version")
      assert.strictEqual(result.code, 0)
      assert.include(result.stdout, pkg.version)
    }).pipe(Effect.scoped))

  it.live("--help describes the tool, its commands and exit codes", () =>
    Effect.gen(function*() {
      const run = makeRunner({ home: yield* tempHome })
      const help = (yield* run("--help")).stdout
      assert.include(help, "ChatGPT Plus/Pro subscription")
      for (const command of ["login", "logout", "status", "token"]) assert.include(help, command)
      assert.include(help, "4 usage limit reached")
    }).pipe(Effect.scoped))
})
