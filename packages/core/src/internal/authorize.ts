import { Effect } from "effect"
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
