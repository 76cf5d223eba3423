/**
 * `subauth status` and `subauth token` without @effect/cli, for the command
 * lines `fastArgs.ts` accepts. Scripts call these two in loops and prompts
 * (`$(subauth token)`), where the start is the whole cost: evaluating
 * @effect/cli (its prompts, its YAML and TOML readers), building the command
 * tree and parsing took about a third of it.
 */
import * as Effect from "effect/Effect"
import type * as Status from "../commands/status.js"
import type * as Token from "../commands/token.js"
import { checkProfile, profileConfig, storeConfig } from "../commands/defaults.js"
import type { Output } from "../Output.js"
import type { Settings } from "../Settings.js"
import { exitCode } from "./errors.js"
import type { FastArgs } from "./fastArgs.js"

export type Command =
  | { readonly _tag: "status"; readonly args: Status.Args }
  | { readonly _tag: "token"; readonly args: Token.Args }

/**
 * The command, a missing `--profile` or `--store` read from the environment as
 * @effect/cli does, and the profile checked as `Cli.ts` checks it.
 */
export const command = (parsed: FastArgs) =>
  Effect.gen(function*() {
    const common = {
      profile: yield* checkProfile(parsed.profile ?? (yield* profileConfig)),
      store: parsed.store ?? (yield* storeConfig),
      json: parsed.json
    }
    return parsed.command === "status"
      ? { _tag: "status", args: common } as const
      : { _tag: "token", args: { ...common, refresh: parsed.refresh } } as const
  })

/** Runs the command (its module loads now) and returns its exit code, a failure reported as `Cli.main` does. */
export const run = (parsed: FastArgs): Effect.Effect<number, never, Settings | Output> => {
  const ran: Effect.Effect<number, unknown, Settings | Output> = Effect.flatMap(command(parsed), (command): Effect.Effect<number, unknown, Settings | Output> =>
    command._tag === "status"
      ? Effect.flatMap(Effect.promise(() => import("../commands/status.js")), (m) => m.run(command.args))
      : Effect.flatMap(Effect.promise(() => import("../commands/token.js")), (m) => m.run(command.args)))
  return Effect.flatMap(Effect.exit(ran), exitCode)
}
