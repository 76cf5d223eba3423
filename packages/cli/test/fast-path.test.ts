/**
 * The fast path of `status` and `token` (src/fastBin.ts) parses their command
 * lines without @effect/cli. Whatever it accepts must mean what @effect/cli
 * makes of it with the commands' real options (`Cli.statusOptions`,
 * `Cli.tokenOptions`) and the same environment; what it does not accept goes
 * to @effect/cli unchanged.
 */
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as fc from "fast-check"
import * as Cli from "../src/Cli.js"
import { accept, parseArgs } from "../src/internal/fastArgs.js"

type Env = Readonly<Record<string, string>>

/** What @effect/cli parses `args` into with the real options of status and token, or undefined if it refuses them. */
const effectCli = (args: ReadonlyArray<string>, env: Env) =>
  Effect.gen(function*() {
    let got: { readonly command: string; readonly args: unknown } | undefined
    const capture = (name: "status" | "token", options: typeof Cli.tokenOptions | typeof Cli.statusOptions) =>
      Command.make(name, options, (parsed) => Effect.sync(() => void (got = { command: name, args: parsed })))
    const root = Command.make("subauth").pipe(
      Command.withSubcommands([capture("status", Cli.statusOptions), capture("token", Cli.tokenOptions)])
    )
    const silent = { ...(yield* Effect.console), log: () => Effect.void, error: () => Effect.void, info: () => Effect.void }
    yield* Command.run(root, { name: "subauth", version: "0" })(["node", "subauth", ...args]).pipe(
      Effect.withConsole(silent),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.ignore
    )
    return got
  }).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer)))

/** What the fast path makes of `args`, with the environment's stand-ins applied as it applies them. */
const fastPath = (args: ReadonlyArray<string>, env: Env) => {
  const parsed = accept(["node", "subauth", ...args], env)
  if (parsed === undefined) return undefined
  const common = { profile: parsed.profile ?? env.SUBAUTH_PROFILE ?? "default", store: parsed.store ?? env.SUBAUTH_STORE ?? "auto", json: parsed.json }
  return { command: parsed.command, args: parsed.command === "token" ? { ...common, refresh: parsed.refresh } : common }
}

const value = fc.constantFrom("work", "default", "a b", "", "-x", "--json", "file", "codex", "nope")
const store = fc.constantFrom("auto", "file", "encrypted", "encrypted-file", "keychain", "codex", "nope", "", "FILE")
// Mostly the options of status and token, in every spelling, and now and then something else.
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(["--json"], ["--refresh"]) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom("--profile", "-p"), value).map((pair) => [...pair]) },
  { weight: 2, arbitrary: value.map((v) => [`--profile=${v}`]) },
  { weight: 3, arbitrary: store.map((v) => ["--store", v]) },
  { weight: 2, arbitrary: store.map((v) => [`--store=${v}`]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(["--help"], ["-h"], ["--version"], ["--wizard"], ["--json=true"], ["--Json"], ["-pwork"], ["--"], ["-"], ["extra"], ["true"], ["--log-level", "debug"], ["--profile"], ["--store"])
  }
)
const commandLine = fc.tuple(
  fc.oneof({ weight: 8, arbitrary: fc.constantFrom("status", "token") }, { weight: 1, arbitrary: fc.constantFrom("login", "--json", "statu") }),
  fc.array(unit, { maxLength: 4 })
).map(([command, units]) => [command, ...units.flat()])
const environment = fc.record({
  SUBAUTH_PROFILE: fc.constantFrom(undefined, "work", ""),
  SUBAUTH_STORE: fc.constantFrom(undefined, "file", "codex", "nope", "")
}).map((env): Env => Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined)) as Env)

describe("the fast path of status and token", () => {
  it("takes the usual command lines", () => {
    for (const args of [["status"], ["token"], ["status", "--json"], ["token", "--json", "--refresh"], ["status", "-p", "work", "--store", "file"], ["token", "--store=codex", "--profile=work"]]) {
      assert.isDefined(parseArgs(args), args.join(" "))
    }
  })

  it("leaves the rest to @effect/cli: help, typos, repeats, options of other commands, a bad SUBAUTH_STORE", () => {
    for (const args of [["status", "--help"], ["status", "--json", "--json"], ["status", "--refresh"], ["token", "--store", "nope"], ["status", "-p"], ["status", "--profile", "--json"], ["status", "extra"], ["statu"], ["login"]]) {
      assert.isUndefined(parseArgs(args), args.join(" "))
    }
    assert.isUndefined(accept(["node", "subauth", "status"], { SUBAUTH_STORE: "nope" }))
    assert.isDefined(accept(["node", "subauth", "status", "--store", "file"], { SUBAUTH_STORE: "nope" }))
  })

  it.live("means what @effect/cli makes of the same command line and environment", () =>
    Effect.promise(() => {
      let taken = 0
      return fc.assert(
        fc.asyncProperty(commandLine, environment, async (args, env) => {
          const fast = fastPath(args, env)
          if (fast === undefined) return
          taken++
          const full = await Effect.runPromise(effectCli(args, env))
          assert.deepStrictEqual(full, fast, `${args.join(" ")} with ${JSON.stringify(env)}`)
        }),
        { numRuns: 1000 }
      ).then(() => assert.isAbove(taken, 100, "the fast path took too few of the generated command lines to tell"))
    }), 60_000)
})
