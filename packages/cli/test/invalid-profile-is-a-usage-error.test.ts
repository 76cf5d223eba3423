/**
 * An invalid profile name is a usage error (exit 2) with one message, in every
 * command that takes `--profile`, whether it came from `--profile` or from
 * `SUBAUTH_PROFILE`. It was exit 1 ("token store: invalid profile name …") in
 * the commands that reached the store, and `models` and `serve` did not refuse
 * it at all (`serve` listened, for a profile it could never sign in).
 */
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Cli from "../src/Cli.js"
import { binaryEnv, makeRunner, tempHome } from "./support.js"

const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))
const bundle = fileURLToPath(new URL("../dist/subauth.cjs", import.meta.url))

// Nothing answers there: a command that got past the check must not reach the internet either.
const nowhere = { issuer: "http://127.0.0.1:9", codexUrl: "http://127.0.0.1:9/backend-api/codex" }

const refusal = (shown: string) =>
  `error: invalid profile name ${shown}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit\n` +
  "hint: see subauth <command> --help\n"

/**
 * Every command of the tree (its words after `subauth`) whose options include
 * `--profile`, walked from the definition itself, nested groups included.
 */
const commandsTakingProfile = (): ReadonlyArray<ReadonlyArray<string>> => {
  type Node =
    | { readonly _tag: "Standard" | "GetUserInput"; readonly name: string }
    | { readonly _tag: "Map"; readonly command: Node }
    | { readonly _tag: "Subcommands"; readonly parent: Node; readonly children: ReadonlyArray<Node> }
  const found: Array<ReadonlyArray<string>> = []
  const nameOf = (node: Node): string => (node._tag === "Map" ? nameOf(node.command) : node._tag === "Subcommands" ? nameOf(node.parent) : node.name)
  const walk = (node: Node, path: ReadonlyArray<string>): void => {
    switch (node._tag) {
      case "Map":
        return walk(node.command, path)
      case "Subcommands":
        for (const child of node.children) walk(child, [...path, nameOf(child)])
        return walk(node.parent, path)
      default: {
        const usage = HelpDoc.toAnsiText(Usage.getHelp(Descriptor.getUsage(node as unknown as Descriptor.Command<unknown>)))
        if (/--profile\b/.test(usage) && path.length > 0) found.push(path)
      }
    }
  }
  walk(Cli.command.descriptor as unknown as Node, [])
  return found
}

describe("an invalid profile name", () => {
  it("is taken by these commands (the walk finds them)", () => {
    const names = commandsTakingProfile().map((path) => path.join(" "))
    // The ones the report was about, so that an empty walk cannot pass the tests below.
    for (const name of ["status", "token", "usage", "ask", "serve"]) assert.include(names, name)
    assert.notInclude(names, "connect")
  })

  it.live("exits 2 with the same message in every command, from --profile and from SUBAUTH_PROFILE", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const run = makeRunner({ home, ...nowhere })
      const fromEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SUBAUTH_PROFILE", "../x"]])))
      for (const path of commandsTakingProfile()) {
        const name = path.join(" ")
        // A command that did not refuse (serve listens) is stopped: the assertions then say what it did.
        const flag = yield* run(...path, "--profile", "../evil").pipe(Effect.timeout("5 seconds"), Effect.orDie)
        assert.deepStrictEqual({ name, code: flag.code, stderr: flag.stderr, stdout: flag.stdout }, {
          name,
          code: 2,
          stderr: refusal(`"../evil"`),
          stdout: ""
        })
        const env = yield* run(...path).pipe(fromEnv, Effect.timeout("5 seconds"), Effect.orDie)
        assert.deepStrictEqual({ name, code: env.code, stderr: env.stderr, stdout: env.stdout }, {
          name,
          code: 2,
          stderr: refusal(`"../x"`),
          stdout: ""
        })
      }
    }).pipe(Effect.scoped))

  it.live("exits 2 with the same message in the binary's fast path of status and token, from both sources", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const run = makeRunner({ home, ...nowhere, fastPath: true })
      const fromEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SUBAUTH_PROFILE", "../x"]])))
      for (const command of ["status", "token"]) {
        const flag = yield* run(command, "--profile", "../evil")
        assert.deepStrictEqual([command, flag.code, flag.stderr, flag.stdout], [command, 2, refusal(`"../evil"`), ""])
        const env = yield* run(command).pipe(fromEnv)
        assert.deepStrictEqual([command, env.code, env.stderr, env.stdout], [command, 2, refusal(`"../x"`), ""])
      }
    }).pipe(Effect.scoped))

  it.live("SUBAUTH_PROFILE in the binary: exit 2 in the fast path (status) and the full one (usage)", () =>
    Effect.gen(function*() {
      assert.isTrue(existsSync(bundle), "the binary is not built: run npm run build")
      const home = yield* tempHome
      const env = binaryEnv(home, nowhere, { SUBAUTH_PROFILE: "../x" })
      for (const command of ["status", "usage"]) {
        const ran = yield* Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
          const child = execFile(process.execPath, [bin, command], { env, timeout: 30_000 }, (error, stdout, stderr) =>
            resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })))
          child.stdin?.end()
        })
        assert.deepStrictEqual([command, ran.code, ran.stderr, ran.stdout], [command, 2, refusal(`"../x"`), ""])
      }
    }).pipe(Effect.scoped), 60_000)
})
