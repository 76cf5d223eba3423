/**
 * Tokens obtained elsewhere, entering the same lifecycle as any login: from
 * values a program already holds, or from a Codex CLI `auth.json`. With a
 * refresh token they are refreshed like any other (OpenHands' injected
 * credentials never refresh).
 *
 * Importing makes a copy: the refresh token is single-use, so once either copy
 * refreshes, the other is dead. To share one login with the Codex CLI, use the
 * Codex store (`NodeTokenStore.layerCodex`) instead of importing.
 *
 * @see protocol.md §4.2
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { parseJson } from "./internal/json.js"
import { briefly } from "./internal/text.js"
import { layerFlow, type InjectedTokens, type LoginFlow } from "./Login.js"
import { LoginError } from "./LoginError.js"
import type { TokenResponse } from "./TokenSet.js"

/**
 * The part of the Codex CLI's `auth.json` that holds a ChatGPT login
 * (fixture `auth-json-written-by-login.json`), tokens redacted as they are
 * decoded. Other fields are ignored.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CodexAuthJson = Schema.Struct({
  auth_mode: Schema.optional(Schema.NullOr(Schema.String)),
  OPENAI_API_KEY: Schema.optional(Schema.NullOr(Schema.String)),
  tokens: Schema.optional(Schema.NullOr(Schema.Struct({
    id_token: Schema.Redacted(Schema.NonEmptyString),
    access_token: Schema.Redacted(Schema.NonEmptyString),
    refresh_token: Schema.Redacted(Schema.NonEmptyString),
    account_id: Schema.optional(Schema.NullOr(Schema.String))
  }))),
  last_refresh: Schema.optional(Schema.NullOr(Schema.String))
})

const invalid = (description: string) => new LoginError({ reason: "InvalidInput", description })

/**
 * The tokens of an `auth.json`'s text. Its content is never echoed in errors.
 *
 * @since 0.1.0
 * @category utils
 */
export const fromCodexAuthJson = (text: string): Either.Either<TokenResponse, LoginError> => {
  const json = parseJson(text)
  if (Option.isNone(json)) return Either.left(invalid("the auth.json is not valid JSON"))
  return Schema.decodeUnknownEither(CodexAuthJson)(json.value).pipe(
    Either.mapLeft(() => invalid("the auth.json does not have the Codex CLI's format (tokens.id_token, access_token, refresh_token)")),
    Either.flatMap((auth) =>
      auth.tokens === undefined || auth.tokens === null
        ? Either.left(invalid("the auth.json holds no ChatGPT login (it may hold an API key, which subauth does not use)"))
        : Either.right({
          access_token: auth.tokens.access_token,
          refresh_token: auth.tokens.refresh_token,
          id_token: auth.tokens.id_token
        })
    )
  )
}

/**
 * Tokens a program already holds.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (tokens: InjectedTokens): Layer.Layer<LoginFlow> =>
  layerFlow(
    "injected",
    Effect.suspend(() =>
      Redacted.value(tokens.accessToken).trim() === ""
        ? Effect.fail(invalid("the access token is empty"))
        : Effect.succeed<TokenResponse>({
          access_token: tokens.accessToken,
          ...(tokens.refreshToken !== undefined ? { refresh_token: tokens.refreshToken } : {}),
          ...(tokens.idToken !== undefined ? { id_token: tokens.idToken } : {})
        })
    )
  )

/**
 * The login in a Codex CLI `auth.json` file (e.g. `~/.codex/auth.json`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCodexAuthFile = (path: string): Layer.Layer<LoginFlow, never, FileSystem.FileSystem> =>
  layerFlow(
    "injected",
    Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
      Effect.tapError((error) => Effect.logDebug(`could not read ${path}: ${error.message}`)),
      Effect.mapError((error) => invalid(`could not read ${path} (${error._tag === "SystemError" && error.reason === "NotFound" ? "no such file" : briefly(error)})`)),
      Effect.flatMap(fromCodexAuthJson)
    )
  )
