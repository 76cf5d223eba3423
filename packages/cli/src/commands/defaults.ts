/**
 * What the token commands' options are made of, without @effect/cli: the
 * store names and the environment variables that stand in for a missing
 * `--profile` or `--store`. `shared.ts` builds the options from them, and the
 * fast path of `status` and `token` (`internal/fastPath.ts`) reads them too.
 */
import { validateProfile } from "@subauth/core/TokenStore"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { UsageError } from "../internal/errors.js"
import { STORES, type StoreChoice } from "../internal/fastArgs.js"

export { STORES, type StoreChoice } from "../internal/fastArgs.js"

/** `SUBAUTH_PROFILE`, else `default`. */
export const profileConfig: Config.Config<string> = Config.string("SUBAUTH_PROFILE").pipe(Config.withDefault("default"))

/**
 * A profile name as every command takes it, from `--profile` or `SUBAUTH_PROFILE`
 * alike: an invalid one is a usage error (exit 2), refused before the command
 * starts, with the store's own words (`TokenStore.validateProfile`).
 */
export const checkProfile = (profile: string): Effect.Effect<string, UsageError> =>
  Effect.mapError(validateProfile(profile), (error) => new UsageError({ message: error.description }))

/** `SUBAUTH_STORE`, else `auto`. */
export const storeConfig: Config.Config<StoreChoice> = Config.literal(...STORES)("SUBAUTH_STORE").pipe(
  Config.withDefault("auto" as const)
)

/** The arguments every token command has. */
export interface TokenArgs {
  readonly profile: string
  readonly store: StoreChoice
  readonly json: boolean
}
