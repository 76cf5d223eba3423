/**
 * The `subauth` command tree.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"

/**
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

/**
 * The root command. Sub-commands (login, status, token, ask, models, serve,
 * demo) arrive with their issues; this is the frame they hang on.
 *
 * @since 0.1.0
 * @category commands
 */
export const subauth = Command.make("subauth").pipe(
  Command.withDescription(
    "Use a ChatGPT Plus/Pro subscription from scripts and programs (\"Sign in with ChatGPT\", as the Codex CLI does)."
  )
)

/**
 * Runs the command line `argv` (as `process.argv`: node, script, arguments).
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(subauth, { name: "subauth", version })
