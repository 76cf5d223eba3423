/**
 * Options shared by the commands that read or write tokens.
 */
import { Options } from "@effect/cli"
import * as Config from "effect/Config"

/** The `--store` values; `encrypted` is short for `encrypted-file`. */
export const STORES = ["auto", "file", "encrypted", "encrypted-file", "keychain", "codex"] as const
export type StoreChoice = (typeof STORES)[number]

export const profile = Options.text("profile").pipe(
  Options.withAlias("p"),
  Options.withDescription("The profile (account) to use. Env: SUBAUTH_PROFILE. Default: default."),
  Options.withFallbackConfig(Config.string("SUBAUTH_PROFILE").pipe(Config.withDefault("default")))
)

export const store = Options.choice("store", STORES).pipe(
  Options.withDescription(
    "Where tokens are kept: auto (the OS keychain if it works, else files), file, encrypted, keychain, or codex " +
      "(the Codex CLI's auth.json). Env: SUBAUTH_STORE. Default: auto."
  ),
  Options.withFallbackConfig(Config.literal(...STORES)("SUBAUTH_STORE").pipe(Config.withDefault("auto" as const)))
)

export const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON document instead of text."))

/** The arguments every token command has. */
export interface TokenArgs {
  readonly profile: string
  readonly store: StoreChoice
  readonly json: boolean
}
