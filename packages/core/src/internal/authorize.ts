import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { fromAuthorizationError, LoginError } from "../LoginError.js"
import * as Pkce from "../Pkce.js"
import type { Info } from "../Provider.js"
import * as SecureRandom from "../SecureRandom.js"

/**
 * The authorize URL with the parameters in the order Codex CLI 0.169 sends them
 * (fixture `browser-authorize-url.json`), each percent-encoded (spaces as %20).
 *
 * @see RFC 6749 §4.1.1, RFC 7636 §4.3; protocol.md §1.3, §9
 */
export const authorizeUrl = (
  provider: Info,
  params: { readonly redirectUri: string; readonly challenge: string; readonly state: string }
): string => {
  const query: ReadonlyArray<readonly [string, string]> = [
    ["response_type", "code"],
    ["client_id", provider.clientId],
    ["redirect_uri", params.redirectUri],
    ["code_challenge", params.challenge],
    ["code_challenge_method", "S256"],
    ["state", params.state],
    ["scope", provider.scopes.join(" ")],
    ["id_token_add_organizations", "true"],
    ["codex_cli_simplified_flow", "true"],
    ["originator", provider.originator]
  ]
  return `${provider.endpoints.authorize}?${query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`
}

/** PKCE and a 32-byte state, from the secure generator. */
export const start = Effect.all({ pkce: Pkce.make, state: SecureRandom.base64Url(32) })

/**
 * The authorization code of a redirect back from the authorize endpoint, or
 * why there is none, checked in this order (as oauth4webapi's
 * `validateAuthResponse` does): the state, so that nothing of another login's
 * redirect is believed (missing: `InvalidInput`; another login's:
 * `StateMismatch`); then `error=` (`AuthorizationDenied`, or
 * `MissingCodexEntitlement`); then the code (`MissingCode`). `source` names
 * where the parameters came from, for the messages. Pure.
 *
 * @see RFC 6749 §4.1.2, §4.1.2.1; RFC 9700 §4.7
 */
export const validateCallback = (
  params: URLSearchParams,
  expectedState: string,
  source = "the sign-in redirect"
): Either.Either<string, LoginError> => {
  const state = params.get("state")
  if (state === null || state === "") {
    return Either.left(new LoginError({ reason: "InvalidInput", description: `${source} has no state; use the whole address` }))
  }
  if (state !== expectedState) {
    return Either.left(
      new LoginError({
        reason: "StateMismatch",
        description: `${source} belongs to another sign-in (its state does not match); use the one from this sign-in`
      })
    )
  }
  const error = params.get("error")
  if (error !== null) return Either.left(fromAuthorizationError(error, params.get("error_description") ?? undefined))
  const code = params.get("code")
  if (code === null || code === "") {
    return Either.left(new LoginError({ reason: "MissingCode", description: `${source} has no authorization code; try again` }))
  }
  return Either.right(code)
}

/** Whether a {@link validateCallback} failure is about the state: the redirect is not this login's. */
export const isWrongState = (error: LoginError): boolean => error.reason === "StateMismatch" || error.reason === "InvalidInput"
