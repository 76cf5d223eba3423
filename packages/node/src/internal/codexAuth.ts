/**
 * The Codex CLI's `auth.json` (protocol.md §4.2, fixtures
 * `auth-json-written-by-login.json` and `auth-json-login-status.json`), read
 * and written so one sign-in serves both `codex` and subauth.
 *
 * What the format cannot say (when the access token expires if it is not a
 * JWT, the sign-in's account fields, new `TokenSet` fields) rides along in a
 * `subauth` key, bound to the access token it describes by a digest. The Codex
 * CLI ignores unknown keys and drops them when it rewrites the file; then the
 * digest no longer matches (or the key is gone) and everything is derived
 * from the tokens' claims again, as the CLI itself does.
 */
import * as TokenSet from "@subauth/core/TokenSet"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { decodeJson, parseJson, storeError, where } from "./files.js"

type Json = Record<string, unknown>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const CodexTokens = Schema.Struct({
  id_token: Schema.optional(Schema.String),
  access_token: Schema.String,
  refresh_token: Schema.optional(Schema.String),
  account_id: Schema.optional(Schema.NullOr(Schema.String))
})

const AuthJson = Schema.Struct({
  tokens: Schema.optional(Schema.NullOr(CodexTokens)),
  last_refresh: Schema.optional(Schema.NullOr(Schema.String)),
  subauth: Schema.optional(Schema.Unknown)
})

const Extension = Schema.Struct({
  version: Schema.Literal(1),
  /** Present when the tokens live in `tokens`; absent when the whole set is here. */
  access_token_sha256: Schema.optional(Schema.String),
  token_set: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

const nullable = Schema.optional(Schema.NullOr(Schema.String))

/** The id token claims the Codex CLI parses when it loads the file (token_data.rs `IdClaims`). */
const IdClaims = Schema.Struct({
  email: nullable,
  "https://api.openai.com/profile": Schema.optional(Schema.NullOr(Schema.Struct({ email: nullable }))),
  "https://api.openai.com/auth": Schema.optional(Schema.NullOr(Schema.Struct({
    chatgpt_plan_type: nullable,
    chatgpt_user_id: nullable,
    user_id: nullable,
    chatgpt_account_id: nullable
  })))
})

/**
 * Whether the Codex CLI can load `idToken`: three non-empty dot-separated
 * parts, a payload in unpadded base64url holding a JSON object with the claim
 * types it expects. Anything else makes `codex` refuse the whole file.
 */
export const codexAcceptsIdToken = (idToken: string): boolean => {
  const [header, payload, signature] = idToken.split(".")
  if (!header || !payload || !signature) return false
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || payload.length % 4 === 1) return false
  return Option.exists(parseJson(Buffer.from(payload, "base64url").toString("utf8")), Schema.is(IdClaims))
}

const digest = (accessToken: string) => createHash("sha256").update(accessToken).digest("hex").slice(0, 32)

const encodeTokenSet = Schema.encodeSync(TokenSet.TokenSet)

/**
 * Tokens from the file's text. `fileTime` stands in for `last_refresh` when it
 * is missing (the CLI accepts such files).
 */
export const decode = (text: string, fileTime: DateTime.Utc, profile: string, path: string) =>
  Effect.gen(function*() {
    const file = yield* decodeJson(AuthJson, text, profile, path)
    const extension = Schema.decodeUnknownOption(Extension)(file.subauth)
    const tokens = file.tokens
    if (tokens === undefined || tokens === null) {
      // API-key sign-in, or no sign-in: no ChatGPT tokens, unless subauth kept a set the CLI cannot hold.
      if (Option.isNone(extension) || extension.value.access_token_sha256 !== undefined) return Option.none()
      return Option.some(
        yield* Schema.decodeUnknown(TokenSet.TokenSet)(extension.value.token_set).pipe(
          Effect.mapError((error) =>
            storeError("Corrupt", profile, path, `the "subauth" entry of auth.json does not hold a token set (${where(error)})`)
          )
        )
      )
    }
    const secrets = {
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(tokens.id_token ? { idToken: tokens.id_token } : {})
    }
    if (Option.isSome(extension) && extension.value.access_token_sha256 === digest(tokens.access_token)) {
      const written = Schema.decodeUnknownOption(TokenSet.TokenSet)({ ...extension.value.token_set, ...secrets })
      if (Option.isSome(written)) return written
    }
    // Written by the Codex CLI: derive what it does not store from the tokens, as it does.
    const obtainedAt = Option.getOrElse(
      Option.flatMap(Option.fromNullable(file.last_refresh), (s) => DateTime.make(s)),
      () => fileTime
    )
    const derived = TokenSet.fromTokens({ ...secrets, obtainedAt })
    return Option.some(
      tokens.account_id ? new TokenSet.TokenSet({ ...derived, accountId: Option.some(tokens.account_id) }) : derived
    )
  })

/**
 * The file's new text for `tokens`, keeping whatever `previous` held that is
 * not about the ChatGPT sign-in: `OPENAI_API_KEY` (null when there was none,
 * as the CLI always writes it), unknown top-level keys, and unknown keys of
 * `tokens` such as `oauth_provenance` and `login_owner_id`.
 *
 * A set the CLI could not load (no refresh token, or no id token it can
 * parse: only injected credentials look like that) is kept whole in the
 * `subauth` key with no `tokens`; `codex` then has no tokens to use and asks
 * for a sign-in rather than failing to read the file.
 */
export const encode = (tokens: TokenSet.TokenSet, previous: unknown): string => {
  const { accessToken, idToken, refreshToken, ...rest } = encodeTokenSet(tokens)
  const before = isObject(previous) ? previous : {}
  const {
    OPENAI_API_KEY: apiKey,
    auth_mode: _mode,
    last_refresh: _refreshed,
    subauth: _subauth,
    tokens: previousTokens,
    ...others
  } = before
  const representable = refreshToken !== undefined && idToken !== undefined && codexAcceptsIdToken(idToken)
  const {
    access_token: _at,
    account_id: _account,
    id_token: _id,
    refresh_token: _rt,
    ...tokenExtras
  } = isObject(previousTokens) ? previousTokens : {}
  const file = {
    auth_mode: "chatgpt",
    OPENAI_API_KEY: typeof apiKey === "string" ? apiKey : null,
    ...(representable
      ? {
        tokens: {
          id_token: idToken,
          access_token: accessToken,
          refresh_token: refreshToken,
          ...tokenExtras,
          ...(rest.accountId !== undefined ? { account_id: rest.accountId } : {})
        }
      }
      : {}),
    last_refresh: rest.obtainedAt,
    ...others,
    subauth: representable
      ? { version: 1, access_token_sha256: digest(accessToken), token_set: rest }
      : { version: 1, token_set: { accessToken, ...(idToken !== undefined ? { idToken } : {}), ...(refreshToken !== undefined ? { refreshToken } : {}), ...rest } }
  }
  return `${JSON.stringify(file, null, 2)}\n`
}

/**
 * The file's text once the ChatGPT sign-in is removed, or none when nothing
 * else is left in it (then the file goes, as `codex logout` deletes it).
 */
export const withoutSignIn = (previous: unknown): Option.Option<string> => {
  if (!isObject(previous)) return Option.none()
  const { auth_mode: _mode, last_refresh: _refreshed, subauth: _subauth, tokens: _tokens, ...others } = previous
  const meaningful = Object.entries(others).some(([key, value]) => !(key === "OPENAI_API_KEY" && value === null))
  return meaningful ? Option.some(`${JSON.stringify(others, null, 2)}\n`) : Option.none()
}
