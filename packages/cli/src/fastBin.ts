/**
 * The entry point of `subauth status` and `subauth token` (the bundle
 * `dist/subauth-fast.cjs`), which scripts call in loops and prompts. It holds
 * what these two need and no more: no @effect/cli, no login, no HTTP unless a
 * token must be refreshed. The launcher (`bin/subauth.js`) calls {@link run}
 * for a command line starting with `status` or `token`; when this path does
 * not take it (`internal/fastArgs.ts`), it returns false having evaluated
 * nothing else, and the launcher runs the full CLI (`bin.ts`) instead.
 *
 * @since 0.1.0
 */
import { accept } from "./internal/fastArgs.js"

/**
 * Starts the command `argv` (as `process.argv`) asks for and returns true, or
 * returns false when it is not one the fast path takes.
 *
 * @since 0.1.0
 * @category utils
 */
export const run = (argv: ReadonlyArray<string>): boolean => {
  const parsed = accept(argv, { SUBAUTH_STORE: process.env.SUBAUTH_STORE })
  if (parsed === undefined) return false
  // Effect and the command load only now (esbuild evaluates a dynamically imported module when it is imported).
  void Promise.all([import("./internal/edge.js"), import("./internal/fastPath.js")]).then(([Edge, FastPath]) =>
    Edge.runMain(FastPath.run(parsed))
  )
  return true
}
