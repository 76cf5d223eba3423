/**
 * Browser sign-in: authorization code with PKCE and a loopback callback on
 * 127.0.0.1 (port 1455, else 1457, the two OpenAI registered).
 *
 * The callback is handled as codex-rs handles it, with the gaps closed: the
 * state is checked first (a mismatch answers `400 State mismatch` and keeps
 * waiting, so a stray request cannot end the login); `error=` ends it with an
 * escaped error page; the code is exchanged exactly as the Codex CLI does;
 * only a `GET` completes it (405 otherwise); `/cancel` ends it when a program
 * asks (see {@link isCancelFromAProgram}), not a web page; other paths get 404. The server closes when the login ends,
 * whatever the outcome, and the whole wait is bounded (10 minutes by default).
 * Unlike codex-rs, no token is ever put in a browser URL.
 *
 * @see RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3
 * @see protocol.md §1, §9 (fixtures `browser-*.json`)
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Browser } from "./Browser.js"
import { type CallbackRequest, type CallbackResponse, CallbackServer } from "./CallbackServer.js"
import { authorizeUrl, isWrongState, start, validateCallback } from "./internal/authorize.js"
import { errorPage, successPage } from "./internal/pages.js"
import type { FlowError } from "./Login.js"
import { layerFlow, type LoginFlow } from "./Login.js"
import { LoginError } from "./LoginError.js"
import { LoginUI, waiting } from "./LoginUI.js"
import { Provider } from "./Provider.js"
import type * as SecureRandom from "./SecureRandom.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type { TokenResponse } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORTS: readonly [number, ...Array<number>] = [1455, 1457]

/**
 * A callback request target longer than this is refused (414) unread.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_TARGET_LENGTH = 4096

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Ports to listen on, in order. Default 1455 then 1457. Note that OpenAI
   * accepts only those two in `redirect_uri`; other ports are for other issuers.
   */
  readonly ports?: readonly [number, ...Array<number>]
  /** Default 10 minutes. */
  readonly timeout?: Duration.DurationInput
  /** Try to open a browser (the URL is shown either way). Default true. */
  readonly openBrowser?: boolean
}

/**
 * What the browser flow needs.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = CallbackServer | Browser | LoginUI | Provider | SecureRandom.SecureRandom | HttpClient.HttpClient

const text = (status: number, body: string): CallbackResponse => ({ status, contentType: "text/plain; charset=utf-8", body })
const html = (body: string): CallbackResponse => ({ status: 200, contentType: "text/html; charset=utf-8", body })

/**
 * Whether a `GET /cancel` comes from a program (the Codex CLI, or another
 * subauth, asking a stale login server to exit: a bare request with `Host:
 * 127.0.0.1:<port>`, protocol.md §1.2) and not from a web page, which must not
 * be able to end a login in progress. Browsers say where a request comes
 * from: `Sec-Fetch-Site` (`none` only when the person typed the address),
 * else `Origin` or `Referer`, and a `Mozilla/…` user agent; a page that
 * rebinds its own name to 127.0.0.1 is caught by `Host`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isCancelFromAProgram = (request: CallbackRequest, port: number): boolean => {
  const headers = request.headers
  // A platform that gives no headers cannot tell; the request is taken as it comes.
  if (headers === undefined) return true
  const host = headers["host"]?.toLowerCase()
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}` && host !== `[::1]:${port}`) return false
  const site = headers["sec-fetch-site"]
  if (site !== undefined) return site === "none"
  if (headers["origin"] !== undefined || headers["referer"] !== undefined) return false
  return !/mozilla\//i.test(headers["user-agent"] ?? "")
}

/**
 * The browser flow as an effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const obtain = Effect.fn("BrowserLogin.obtain")(
  function*(options: Options = {}): Effect.fn.Return<TokenResponse, FlowError, Requirements | Scope.Scope> {
    const provider = yield* Provider
    const ui = yield* LoginUI
    const timeout = options.timeout ?? Duration.minutes(10)
    const { pkce, state } = yield* start
    const done = yield* Deferred.make<TokenResponse, FlowError>()
    const context = yield* Effect.context<Provider | HttpClient.HttpClient>()
    let redirectUri = ""
    let port = 0
    let exchanging = false
    let wrongState = 0

    const finish = (exit: Exit.Exit<TokenResponse, FlowError>, response: CallbackResponse) =>
      Effect.as(Deferred.done(done, exit), response)

    const handler = (request: CallbackRequest): Effect.Effect<CallbackResponse> =>
      Effect.gen(function*() {
        if (request.targetLength > MAX_TARGET_LENGTH) return text(414, "Request-URI Too Long")
        if (request.path !== "/cancel" && request.path !== "/auth/callback") return text(404, "Not Found")
        // A browser's redirect is a GET; a DELETE or a POST to the callback completes nothing.
        if (request.method !== "GET") return text(405, "Method Not Allowed")
        if (request.path === "/cancel") {
          if (!isCancelFromAProgram(request, port)) return text(403, "Forbidden")
          return yield* finish(
            Exit.fail(new LoginError({ reason: "Cancelled", description: "the sign-in was cancelled" })),
            text(200, "Login cancelled")
          )
        }
        const checked = validateCallback(request.query, state)
        if (Either.isLeft(checked) && isWrongState(checked.left)) {
          wrongState += 1
          return text(400, "State mismatch")
        }
        if (exchanging) return text(409, "Sign-in already in progress")
        exchanging = true
        if (Either.isLeft(checked)) return yield* finish(Exit.fail(checked.left), html(errorPage(checked.left.message)))
        const code = checked.right
        const exit = yield* Effect.exit(
          TokenEndpoint.exchangeCode({ code: Redacted.make(code), redirectUri, verifier: pkce.verifier }).pipe(
            Effect.provide(context)
          )
        )
        return yield* finish(
          exit,
          Exit.isSuccess(exit) ? html(successPage) : html(errorPage(`Token exchange failed: ${exit.cause._tag === "Fail" ? exit.cause.error.message : "unexpected error"}`))
        )
      })

    const listening = yield* (yield* CallbackServer).listen({ ports: options.ports ?? DEFAULT_PORTS, handler })
    port = listening.port
    redirectUri = `http://127.0.0.1:${port}/auth/callback`
    const url = authorizeUrl(provider, { redirectUri, challenge: pkce.challenge, state })
    const opened = options.openBrowser === false ? false : yield* (yield* Browser).open(url)
    yield* ui.show({ _tag: "AuthorizeUrl", url, method: "browser", opened })
    yield* waiting("the sign-in in your browser", timeout)
    return yield* Deferred.await(done).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new LoginError({
            reason: "Timeout",
            description: `the sign-in did not complete within ${Duration.format(Duration.decode(timeout))}` +
              (wrongState > 0
                ? `; ${wrongState} callback(s) with another login's state arrived: is another sign-in running?`
                : "; if the browser is on another machine, use --device or --paste")
          })
      })
    )
  },
  Effect.scoped
)

/**
 * The browser flow as the login method.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<LoginFlow, never, Requirements> =>
  layerFlow("browser", obtain(options))

