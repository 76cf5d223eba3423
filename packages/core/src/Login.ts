/**
 * Signing in and out. A login method is a layer providing {@link LoginFlow}
 * (`BrowserLogin`, `DeviceLogin`, `PasteLogin`, `InjectedLogin`); {@link login}
 * runs whichever is provided: consent, the flow, id token verification, then
 * the tokens go into the `TokenStore`. What uses the tokens later never knows
 * which method ran.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { TokenEndpointError, TransportError } from "./AuthError.js"
import { Consent, type ConsentRecord } from "./Consent.js"
import { type ClaimsError, IdTokenVerifier } from "./IdTokenVerifier.js"
import type { LoginError } from "./LoginError.js"
import type { Provider } from "./Provider.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import * as TokenSet from "./TokenSet.js"
import { DEFAULT_PROFILE, TokenStore, type TokenStoreError, validateProfile } from "./TokenStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Method = "browser" | "device" | "paste" | "injected"

/**
 * @since 0.1.0
 * @category models
 */
export type FlowError = LoginError | TokenEndpointError | TransportError

/**
 * What a login flow obtained, and the method that obtained it (a flow with a
 * fallback may end with another method than the one it started with).
 *
 * @since 0.1.0
 * @category models
 */
export interface Obtained {
  readonly method: Method
  readonly response: TokenSet.TokenResponse
}

/**
 * One way of obtaining tokens.
 *
 * @since 0.1.0
 * @category tags
 */
export class LoginFlow extends Context.Tag("@subauth/core/LoginFlow")<LoginFlow, {
  /** The method the flow starts with. */
  readonly method: Method
  readonly obtain: Effect.Effect<Obtained, FlowError>
}>() {}

/**
 * A login method's layer from its effect: the effect's requirements are taken
 * from the layer's context once, so `obtain` needs nothing more.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerFlow = <R>(
  method: Method,
  obtain: Effect.Effect<TokenSet.TokenResponse, FlowError, R>
): Layer.Layer<LoginFlow, never, R> => layerFlowObtained(method, Effect.map(obtain, (response) => ({ method, response })))

/**
 * {@link layerFlow} for a flow that says which method obtained the tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerFlowObtained = <R>(
  method: Method,
  obtain: Effect.Effect<Obtained, FlowError, R>
): Layer.Layer<LoginFlow, never, R> =>
  Layer.effect(
    LoginFlow,
    Effect.map(Effect.context<R>(), (context) => ({ method, obtain: Effect.provide(obtain, context) }))
  )

/**
 * @since 0.1.0
 * @category models
 */
export interface LoginOptions {
  readonly profile?: string
  /** Consent given up front (`--accept-terms`); needed without a terminal on first login. */
  readonly acceptTerms?: boolean
  /** Show the full disclaimer even when consent is on record. */
  readonly verbose?: boolean
  /**
   * When the login replaces other tokens of the profile, revoke those (best
   * effort), as codex-rs does. Default true.
   */
  readonly revokeReplaced?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LoginResult {
  readonly profile: string
  readonly method: Method
  readonly tokens: TokenSet.TokenSet
  readonly consent: ConsentRecord
  /** What happened to tokens the login replaced. */
  readonly replaced: "nothing" | "revoked" | "revoke-failed" | "kept"
}

/**
 * @since 0.1.0
 * @category models
 */
export type Error = FlowError | ClaimsError | TokenStoreError

const revokeTokens = (tokens: TokenSet.TokenSet) =>
  Option.match(tokens.refreshToken, {
    onSome: (token) => TokenEndpoint.revoke({ token, hint: "refresh_token" }),
    onNone: () => TokenEndpoint.revoke({ token: tokens.accessToken, hint: "access_token" })
  })

/**
 * Signs a profile in with the provided {@link LoginFlow}. Nothing is written
 * unless every step succeeds: a failed or refused login leaves the store as it was.
 *
 * @since 0.1.0
 * @category utils
 */
export const login = Effect.fn("Login.login")(function*(
  options: LoginOptions = {}
): Effect.fn.Return<
  LoginResult,
  Error,
  LoginFlow | Consent | IdTokenVerifier | TokenStore | Provider | HttpClient.HttpClient
> {
  const profile = yield* validateProfile(options.profile ?? DEFAULT_PROFILE)
  const flow = yield* LoginFlow
  const consent = yield* (yield* Consent).ensure(profile, {
    ...(options.acceptTerms !== undefined ? { acceptTerms: options.acceptTerms } : {}),
    ...(options.verbose !== undefined ? { verbose: options.verbose } : {})
  })
  const { method, response } = yield* flow.obtain
  const account = yield* (yield* IdTokenVerifier).verify(
    { idToken: response.id_token, accessToken: response.access_token },
    method === "injected" ? { allowExpired: true, idTokenOptional: true } : {}
  )
  const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
  const tokens = new TokenSet.TokenSet({
    ...TokenSet.fromResponse(response, now),
    accountId: account.accountId,
    planType: account.planType,
    email: account.email,
    userId: account.userId,
    claimsVerified: account.verified
  })
  const store = yield* TokenStore
  const previous = yield* store.withLock(profile, Effect.zipLeft(store.get(profile), store.set(profile, tokens)))
  yield* Effect.logInfo(`signed in with the ${method} flow`).pipe(Effect.annotateLogs({ profile }))

  let replaced: LoginResult["replaced"] = "nothing"
  if (Option.isSome(previous) && !TokenSet.sameRefreshToken(previous.value, tokens)) {
    replaced = options.revokeReplaced === false
      ? "kept"
      : yield* revokeTokens(previous.value).pipe(
        Effect.as("revoked" as const),
        Effect.catchAll((error) =>
          Effect.as(Effect.logWarning(`the replaced tokens could not be revoked: ${error.message}`), "revoke-failed" as const)
        )
      )
  }
  return { profile, method, tokens, consent, replaced }
})

/**
 * @since 0.1.0
 * @category models
 */
export interface LogoutResult {
  readonly profile: string
  /** Whether the profile had tokens. */
  readonly signedIn: boolean
  /** The revocation at the issuer: done, failed (the local tokens are deleted anyway), or not asked for. */
  readonly revoke: "revoked" | "failed" | "skipped"
  /** Why the revocation failed, when it did. */
  readonly revokeError?: string
}

/**
 * Signs a profile out: revokes its refresh token at the issuer (best effort,
 * bounded by a 10 second timeout; the access token if there is no refresh
 * token), then deletes the stored tokens.
 *
 * @see protocol.md §3.6 (fixture `revoke-request.json`)
 * @since 0.1.0
 * @category utils
 */
export const logout = Effect.fn("Login.logout")(function*(
  options: { readonly profile?: string; readonly revoke?: boolean } = {}
): Effect.fn.Return<LogoutResult, TokenStoreError, TokenStore | Provider | HttpClient.HttpClient> {
  const profile = options.profile ?? DEFAULT_PROFILE
  const store = yield* TokenStore
  const tokens = yield* store.get(profile)
  if (Option.isNone(tokens)) return { profile, signedIn: false, revoke: "skipped" as const }
  const outcome = options.revoke === false
    ? { revoke: "skipped" as const }
    : yield* revokeTokens(tokens.value).pipe(
      Effect.as({ revoke: "revoked" as const }),
      Effect.catchAll((error) => Effect.succeed({ revoke: "failed" as const, revokeError: error.message }))
    )
  yield* store.withLock(profile, store.remove(profile))
  yield* Effect.logInfo(`signed out; revocation ${outcome.revoke}`).pipe(Effect.annotateLogs({ profile }))
  return { profile, signedIn: true, ...outcome }
})

/**
 * The tokens a program injects (`InjectedLogin`): access token required.
 *
 * @since 0.1.0
 * @category models
 */
export interface InjectedTokens {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken?: Redacted.Redacted<string> | undefined
  readonly idToken?: Redacted.Redacted<string> | undefined
}
