/**
 * Device-code sign-in for machines without a browser: OpenAI's own three
 * steps, not RFC 8628. (1) `POST usercode` gives a code and an interval (a
 * string of seconds); (2) the person enters the code at `{issuer}/codex/device`
 * while we poll `POST token`, which answers 403 (or 404) while pending and then
 * an authorization code with a PKCE pair the server made; (3) that code is
 * exchanged with `redirect_uri={issuer}/deviceauth/callback`.
 *
 * A 404 on `usercode` means device codes are off for the account: that is a
 * `DeviceLoginDisabled` error saying how to turn them on, and the layer
 * {@link layerWithBrowserFallback} switches to the browser flow instead.
 * Short network failures while polling do not end the wait.
 *
 * @see protocol.md §2, §9 (fixtures `device-*.json`)
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as BrowserLogin from "./BrowserLogin.js"
import { jsonPost, type RawResponse, send } from "./internal/http.js"
import { TransportError } from "./AuthError.js"
import { layerFlow, layerFlowObtained, type FlowError, type LoginFlow, type Obtained } from "./Login.js"
import { MAX_ISSUER_RESPONSE_BYTES } from "./Limits.js"
import { LoginError } from "./LoginError.js"
import { LoginUI } from "./LoginUI.js"
import * as Printable from "./Printable.js"
import { Provider } from "./Provider.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type { TokenResponse } from "./TokenSet.js"

/**
 * Step 1's answer. Lenient where OpenAI's server forces it: `interval` is a
 * string, and codex-rs also accepts `usercode`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserCodeResponse = Schema.Struct({
  device_auth_id: Schema.NonEmptyString,
  user_code: Schema.optional(Schema.NonEmptyString),
  usercode: Schema.optional(Schema.NonEmptyString),
  interval: Schema.optional(Schema.Union(Schema.Number, Schema.NumberFromString)),
  expires_at: Schema.optional(Schema.String)
})

/**
 * Step 2's answer once approved.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApprovedResponse = Schema.Struct({
  authorization_code: Schema.NonEmptyString,
  code_challenge: Schema.optional(Schema.String),
  code_verifier: Schema.NonEmptyString
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The longest wait for approval. Default (and at most, per the server) 15 minutes. */
  readonly timeout?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(15)

// Consecutive transient failures tolerated while polling.
const MAX_POLL_FAILURES = 5

const failed = (what: string, response: RawResponse) =>
  new LoginError({ reason: "DeviceAuthFailed", description: `${what} failed with status ${response.status}; try again, or sign in with --browser` })

const decode = <A, I>(schema: Schema.Schema<A, I>, what: string, response: RawResponse) =>
  Schema.decodeUnknown(schema)(response.json).pipe(
    Effect.mapError(() => new LoginError({ reason: "DeviceAuthFailed", description: `${what} answered with an unexpected body` }))
  )

/**
 * A device code as step 1 gave it: what the person is shown (`userCode`,
 * `verificationUrl`), when it expires, how often to poll, and the secret id
 * the polls send (never shown).
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceCode {
  readonly deviceAuthId: Redacted.Redacted<string>
  readonly userCode: string
  readonly verificationUrl: string
  readonly interval: Duration.Duration
  /** The server's expiry, if it sent one. */
  readonly expiresAt: Option.Option<DateTime.Utc>
}

/**
 * The answer to one poll: still waiting, or approved with an authorization
 * code and the PKCE verifier the server made (for {@link exchange}).
 *
 * @since 0.1.0
 * @category models
 */
export type PollResult =
  | { readonly _tag: "Pending" }
  | {
    readonly _tag: "Approved"
    readonly authorizationCode: Redacted.Redacted<string>
    readonly verifier: Redacted.Redacted<string>
  }

const post = (endpoint: string, url: string, body: unknown, secrets: ReadonlyArray<string>) =>
  send(endpoint, jsonPost(url, body), { timeout: TokenEndpoint.DEFAULT_TIMEOUT, secrets, maxBytes: MAX_ISSUER_RESPONSE_BYTES })

/**
 * Step 1: asks the issuer for a device code. A 404 is `DeviceLoginDisabled`.
 *
 * @see protocol.md §2 step 1
 * @since 0.1.0
 * @category constructors
 */
export const requestCode: Effect.Effect<DeviceCode, FlowError, Provider | HttpClient.HttpClient> = Effect.gen(function*() {
  const provider = yield* Provider
  const started = yield* post("device code", provider.endpoints.deviceUserCode, { client_id: provider.clientId }, [])
  if (started.status === 404) {
    return yield* new LoginError({
      reason: "DeviceLoginDisabled",
      description: "device code sign-in is not enabled for this account. Turn on device code authorization for Codex " +
        "in ChatGPT (Settings → Security; in a workspace, an admin may have to allow it), or sign in with the browser " +
        "instead: subauth login --browser (or --paste on a machine without one)"
    })
  }
  if (started.status >= 500 || started.status === 429) {
    return yield* new TransportError({
      reason: started.status === 429 ? "RateLimited" : "ServerError",
      endpoint: "device code",
      status: started.status
    })
  }
  if (started.status < 200 || started.status >= 300) return yield* failed("requesting a device code", started)
  const code = yield* decode(UserCodeResponse, "requesting a device code", started)
  const userCode = code.user_code ?? code.usercode
  if (userCode === undefined) {
    return yield* new LoginError({ reason: "DeviceAuthFailed", description: "the device code answer has no user code" })
  }
  // The code is shown on the terminal as it is, and sent back as it is: one that cannot be shown is refused.
  if (userCode.length > 64 || !Printable.isLine(userCode)) {
    return yield* new LoginError({ reason: "DeviceAuthFailed", description: "the device code answer has a user code that cannot be shown" })
  }
  return {
    deviceAuthId: Redacted.make(code.device_auth_id),
    userCode,
    verificationUrl: provider.endpoints.deviceVerification,
    interval: Duration.seconds(Math.max(1, Math.min(60, Math.round(code.interval ?? 5)))),
    expiresAt: Option.flatMap(Option.fromNullable(code.expires_at), (iso) => DateTime.make(iso))
  }
})

// RFC 8628 §3.5's codes, which a server may use to end a wait (OpenAI's own are not documented).
const deniedCodes = new Set(["access_denied", "authorization_declined", "deviceauth_denied"])
const expiredCodes = new Set(["expired_token", "deviceauth_expired"])

/**
 * Step 2, once: polls for approval. 403 and 404 mean still pending; 5xx, 429 and network failures are
 * `TransportError`s (worth another poll); a refusal is `AuthorizationDenied`,
 * an expired code `DeviceCodeExpired`, anything else `DeviceAuthFailed`.
 *
 * @see protocol.md §2 step 3
 * @since 0.1.0
 * @category constructors
 */
export const pollOnce = (code: Pick<DeviceCode, "deviceAuthId" | "userCode">): Effect.Effect<
  PollResult,
  FlowError,
  Provider | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const provider = yield* Provider
    const id = Redacted.value(code.deviceAuthId)
    const answer = yield* post("device token", provider.endpoints.deviceToken, { device_auth_id: id, user_code: code.userCode }, [
      id,
      code.userCode
    ])
    if (answer.status >= 200 && answer.status < 300) {
      const approved = yield* decode(ApprovedResponse, "polling for approval", answer)
      return {
        _tag: "Approved",
        authorizationCode: Redacted.make(approved.authorization_code),
        verifier: Redacted.make(approved.code_verifier)
      } as const
    }
    if (answer.status === 403 || answer.status === 404) return { _tag: "Pending" } as const
    if (answer.status >= 500 || answer.status === 429) {
      return yield* new TransportError({
        reason: answer.status === 429 ? "RateLimited" : "ServerError",
        endpoint: "device token",
        status: answer.status
      })
    }
    const errorCode = TokenEndpoint.errorCodeOf(answer.json)
    if (errorCode !== undefined && deniedCodes.has(errorCode)) {
      return yield* new LoginError({ reason: "AuthorizationDenied", description: "the sign-in was declined on the device code page" })
    }
    if (errorCode !== undefined && expiredCodes.has(errorCode)) {
      return yield* new LoginError({
        reason: "DeviceCodeExpired",
        description: "the device code expired before it was approved; run the sign-in again for a new code"
      })
    }
    return yield* failed("polling for approval", answer)
  })

/**
 * Step 4: exchanges an approved code for tokens, with
 * `redirect_uri={issuer}/deviceauth/callback`. A code is spent by the first
 * exchange that reaches the issuer: this is not retried.
 *
 * @see protocol.md §2 step 4 (fixture `device-token-exchange.json`)
 * @since 0.1.0
 * @category constructors
 */
export const exchange = (
  approved: Extract<PollResult, { readonly _tag: "Approved" }>
): Effect.Effect<TokenResponse, FlowError, Provider | HttpClient.HttpClient> =>
  Effect.flatMap(Provider, (provider) =>
    TokenEndpoint.exchangeCode({
      code: approved.authorizationCode,
      redirectUri: provider.endpoints.deviceCallback,
      verifier: approved.verifier
    }))

/**
 * The device flow as an effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const obtain = Effect.fn("DeviceLogin.obtain")(function*(
  options: Options = {}
): Effect.fn.Return<TokenResponse, FlowError, LoginUI | Provider | HttpClient.HttpClient> {
  const ui = yield* LoginUI
  const code = yield* requestCode
  const now = yield* Clock.currentTimeMillis
  const serverExpiry = Option.getOrUndefined(Option.map(code.expiresAt, DateTime.toEpochMillis))
  const deadline = Math.min(now + Duration.toMillis(options.timeout ?? DEFAULT_TIMEOUT), serverExpiry ?? Infinity)
  yield* ui.show({
    _tag: "DeviceCode",
    verificationUrl: code.verificationUrl,
    userCode: code.userCode,
    expiresAt: DateTime.unsafeMake(deadline)
  })
  yield* ui.show({ _tag: "Waiting", what: "approval of the code", deadline: DateTime.unsafeMake(deadline) })

  let failures = 0
  while (true) {
    const answer = yield* Effect.either(pollOnce(code))
    if (answer._tag === "Right" && answer.right._tag === "Approved") return yield* exchange(answer.right)
    if (answer._tag === "Left" && answer.left._tag !== "TransportError") return yield* answer.left
    failures = answer._tag === "Right" ? 0 : failures + 1
    if (failures > MAX_POLL_FAILURES) {
      return yield* new LoginError({
        reason: "DeviceAuthFailed",
        description: "the sign-in server kept failing while waiting for approval; check the connection and try again"
      })
    }
    const remaining = deadline - (yield* Clock.currentTimeMillis)
    if (remaining <= 0) {
      return yield* new LoginError({
        reason: "DeviceCodeExpired",
        description: "the device code expired before it was approved; run the sign-in again for a new code"
      })
    }
    yield* Effect.sleep(Duration.min(code.interval, Duration.millis(remaining)))
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<LoginFlow, never, LoginUI | Provider | HttpClient.HttpClient> =>
  layerFlow("device", obtain(options))

/**
 * The device flow, switching to the browser flow when device codes are off.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithBrowserFallback = (
  options: Options = {},
  browser: BrowserLogin.Options = {}
): Layer.Layer<LoginFlow, never, BrowserLogin.Requirements> =>
  layerFlowObtained(
    "device",
    obtain(options).pipe(
      Effect.map((response): Obtained => ({ method: "device", response })),
      Effect.catchIf(
        (error): error is LoginError => error._tag === "LoginError" && error.reason === "DeviceLoginDisabled",
        (error) =>
          Effect.flatMap(LoginUI, (ui) =>
            ui.show({ _tag: "Warning", text: `${error.message.split(". ")[0]}; signing in with the browser instead` })
          ).pipe(
            Effect.zipRight(BrowserLogin.obtain(browser)),
            Effect.map((response): Obtained => ({ method: "browser", response }))
          )
      )
    )
  )
