/**
 * Options shared by the commands that read or write tokens.
 */
import { Options } from "@effect/cli"
import { profileConfig, STORES, storeConfig } from "./defaults.js"

export { checkProfile, STORES, type StoreChoice, type TokenArgs } from "./defaults.js"

/** Any text: the commands check it (`checkProfile`), so that both sources of a name fail alike and in our words. */
export const profile = Options.text("profile").pipe(
  Options.withAlias("p"),
  Options.withDescription("The profile (account) to use. Env: SUBAUTH_PROFILE. Default: default."),
  Options.withFallbackConfig(profileConfig)
)

export const store = Options.choice("store", STORES).pipe(
  Options.withDescription(
    "Where tokens are kept: auto (the OS keychain if it works, else files), file, encrypted, keychain, or codex " +
      "(the Codex CLI's auth.json). Env: SUBAUTH_STORE. Default: auto."
  ),
  Options.withFallbackConfig(storeConfig)
)

export const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON document instead of text."))
