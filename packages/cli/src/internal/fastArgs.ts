/**
 * The command lines the fast path takes (`fastBin.ts`): `status` and `token`
 * with only their own options, in these forms:
 *
 *     subauth status|token [--json] [--refresh (token)] [--profile P | -p P | --profile=P] [--store S | --store=S]
 *
 * Anything else (`--help`, a typo, another spelling, an option given twice, an
 * invalid `SUBAUTH_STORE`) is left to the full command tree, whose
 * @effect/cli handles and reports it as before. Pure and free of Effect: the
 * fast bundle decides with it before it evaluates anything else.
 * test/fast-path.test.ts checks that @effect/cli parses every command line
 * accepted here into the same arguments.
 */

/** The `--store` values; `encrypted` is short for `encrypted-file`. */
export const STORES = ["auto", "file", "encrypted", "encrypted-file", "keychain", "codex"] as const
export type StoreChoice = (typeof STORES)[number]

/** A command line this path takes; a missing profile or store comes from the environment later (`FastPath.parse`). */
export interface FastArgs {
  readonly command: "status" | "token"
  readonly profile?: string
  readonly store?: StoreChoice
  readonly json: boolean
  readonly refresh: boolean
}

export const isStore = (value: string): value is StoreChoice => (STORES as ReadonlyArray<string>).includes(value)

// A value @effect/cli reads the same way: not empty, not something that looks like an option.
const plainValue = (value: string | undefined): value is string => value !== undefined && value !== "" && !value.startsWith("-")

/** The arguments after `node subauth`, or undefined for anything outside the forms above. */
export const parseArgs = (args: ReadonlyArray<string>): FastArgs | undefined => {
  const [command, ...rest] = args
  if (command !== "status" && command !== "token") return undefined
  let profile: string | undefined
  let store: StoreChoice | undefined
  let json = false
  let refresh = false
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const inline = /^--(profile|store)=(.*)$/s.exec(arg)
    const name = inline !== null ? inline[1] : arg === "-p" || arg === "--profile" ? "profile" : arg === "--store" ? "store" : undefined
    if (name !== undefined) {
      const value = inline !== null ? inline[2] : rest[++i]
      if (!plainValue(value)) return undefined
      if (name === "profile" && profile === undefined) profile = value
      else if (name === "store" && store === undefined && isStore(value)) store = value
      else return undefined
    } else if (arg === "--json" && !json) {
      json = true
    } else if (arg === "--refresh" && command === "token" && !refresh) {
      refresh = true
    } else {
      return undefined
    }
  }
  return {
    command,
    json,
    refresh,
    ...(profile !== undefined ? { profile } : {}),
    ...(store !== undefined ? { store } : {})
  }
}

/**
 * `parseArgs` of `argv` (as `process.argv`), if the environment's stand-ins for
 * a missing option are valid too: `SUBAUTH_STORE` must be a store's name, as
 * @effect/cli's `Config.literal` requires (`SUBAUTH_PROFILE` may be any text).
 */
export const accept = (
  argv: ReadonlyArray<string>,
  env: { readonly SUBAUTH_STORE?: string | undefined }
): FastArgs | undefined => {
  const parsed = parseArgs(argv.slice(2))
  if (parsed === undefined) return undefined
  if (parsed.store === undefined && env.SUBAUTH_STORE !== undefined && !isStore(env.SUBAUTH_STORE)) return undefined
  return parsed
}
