/**
 * Sign-in by pasting: for machines the browser's redirect cannot reach (SSH,
 * containers, WSL). The authorize URL uses the registered loopback redirect;
 * the browser then fails to load it, and the person pastes the address it shows
 * (or `code=…&state=…`, or `code#state`). Unlike the opencode plugins, the
 * state is verified, so a pasted redirect of another login is refused.
 *
 * @see protocol.md §1.4 (NM manual paste), §8 (openai/codex#3351)
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Browser } from "./Browser.js"
import { authorizeUrl, start, validateCallback } from "./internal/authorize.js"
import type { FlowError } from "./Login.js"
import { layerFlow, type LoginFlow } from "./Login.js"
import { LoginError } from "./LoginError.js"
import { LoginUI } from "./LoginUI.js"
import { Provider } from "./Provider.js"
import type * as SecureRandom from "./SecureRandom.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type { TokenResponse } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REDIRECT_URI = "http://127.0.0.1:1455/auth/callback"

/**
 * Longest input accepted.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_INPUT_LENGTH = 8192

const invalid = (description: string) => Either.left(new LoginError({ reason: "InvalidInput", description }))

/**
 * The authorization code in what was pasted, after checking its state against
 * `expectedState`.
 *
 * @since 0.1.0
 * @category utils
 */
export const parsePastedRedirect = (input: string, expectedState: string): Either.Either<string, LoginError> => {
  const pasted = input.trim()
  if (pasted.length === 0) return invalid("nothing was pasted")
  if (pasted.length > MAX_INPUT_LENGTH) return invalid(`the pasted text is longer than ${MAX_INPUT_LENGTH} characters`)
  let params: URLSearchParams
  if (/^https?:\/\//i.test(pasted)) {
    try {
      params = new URL(pasted).searchParams
    } catch {
      return invalid("the pasted address is not a valid URL")
    }
  } else if (pasted.includes("=")) {
    params = new URLSearchParams(pasted.replace(/^[?#]/, ""))
  } else if (pasted.includes("#")) {
    const [code = "", state = ""] = pasted.split("#", 2)
    params = new URLSearchParams({ code, state })
  } else {
    return invalid("paste the whole address from the browser (it has code=… and state=…), not the code alone")
  }
  return validateCallback(params, expectedState, "the pasted address")
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly redirectUri?: string
  readonly openBrowser?: boolean
}

/**
 * A started paste sign-in: the address the person opens, and what checking
 * and exchanging their answer needs (the state and the PKCE verifier, both
 * secret to the one who started it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Started {
  readonly url: string
  readonly redirectUri: string
  readonly state: Redacted.Redacted<string>
  readonly verifier: Redacted.Redacted<string>
}

/**
 * Starts a paste sign-in: PKCE, a state, and the authorize address.
 *
 * @since 0.1.0
 * @category constructors
 */
export const begin = (
  options: Pick<Options, "redirectUri"> = {}
): Effect.Effect<Started, never, Provider | SecureRandom.SecureRandom> =>
  Effect.gen(function*() {
    const provider = yield* Provider
    const redirectUri = options.redirectUri ?? DEFAULT_REDIRECT_URI
    const { pkce, state } = yield* start
    const url = authorizeUrl(provider, { redirectUri, challenge: pkce.challenge, state })
    return { url, redirectUri, state: Redacted.make(state), verifier: pkce.verifier }
  })

/**
 * Finishes a paste sign-in with what was pasted: checks it against the state
 * ({@link parsePastedRedirect}), then exchanges the code.
 *
 * @since 0.1.0
 * @category constructors
 */
export const complete = (
  pasted: string,
  started: Omit<Started, "url">
): Effect.Effect<TokenResponse, FlowError, Provider | HttpClient.HttpClient> =>
  Effect.flatMap(
    parsePastedRedirect(pasted, Redacted.value(started.state)),
    (code) => TokenEndpoint.exchangeCode({ code: Redacted.make(code), redirectUri: started.redirectUri, verifier: started.verifier })
  )

/**
 * The paste flow as an effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const obtain = Effect.fn("PasteLogin.obtain")(function*(
  options: Options = {}
): Effect.fn.Return<TokenResponse, FlowError, Browser | LoginUI | Provider | SecureRandom.SecureRandom | HttpClient.HttpClient> {
  const ui = yield* LoginUI
  if (!ui.interactive) {
    return yield* new LoginError({
      reason: "NotInteractive",
      description: "pasting needs a terminal; use --device on machines without one"
    })
  }
  const started = yield* begin(options)
  const opened = options.openBrowser === true ? yield* (yield* Browser).open(started.url) : false
  yield* ui.show({ _tag: "AuthorizeUrl", url: started.url, method: "paste", opened })
  const answer = yield* ui.ask(`Paste the address (${started.redirectUri}?code=…):`)
  if (Option.isNone(answer)) {
    return yield* new LoginError({ reason: "Cancelled", description: "no address was pasted" })
  }
  return yield* complete(answer.value, started)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<LoginFlow, never, Browser | LoginUI | Provider | SecureRandom.SecureRandom | HttpClient.HttpClient> =>
  layerFlow("paste", obtain(options))

