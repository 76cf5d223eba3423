/**
 * A fake auth.openai.com on 127.0.0.1, as a Layer: authorization with PKCE,
 * the token endpoint (authorization code, refresh with rotation and reuse
 * detection, API-key token exchange), OpenAI's device-code flow, revocation and
 * a JWKS. Tokens are real RS256 JWTs (jose) carrying OpenAI's claim namespace.
 * Every request is logged, and faults can be scripted per endpoint and call.
 *
 * Behaviour follows protocol.md §1–§4 and the Codex CLI fixtures; error bodies
 * are OpenAI's own, word for word.
 *
 * Time comes from the `Clock` the layer is built with, so under `TestClock`
 * tokens expire when the test says so.
 *
 * @since 0.1.0
 */
import { HttpRouter, type HttpServerError, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Pkce, Provider, TokenSet } from "@subauth/core"
import { Clock, Context, DateTime, Duration, Effect, Encoding, Layer, Option } from "effect"
import * as jose from "jose"
import { createServer } from "node:http"
import type { RecordedRequest, Rule } from "./FakeHttp.js"
import { escapeHtml, page } from "./internal/html.js"
import { type Incoming, makeRecorder } from "./internal/instrument.js"

/**
 * The account tokens are minted for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Account {
  readonly accountId: string
  readonly userId: string
  readonly email: string
  readonly planType: string
  readonly organizationId: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultAccount: Account = {
  accountId: "11111111-2222-4333-8444-555555555555",
  userId: "user-FAKEUSER000000000000000",
  email: "fake.user@example.com",
  planType: "plus",
  organizationId: "org-FAKEORG0000000000000000"
}

/**
 * How `/oauth/authorize` answers: redirect at once with a code, show a page
 * with approve/deny links, or redirect with an error (e.g.
 * `{ deny: { error: "access_denied", description: "missing_codex_entitlement" } }`).
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizeMode =
  | "auto-approve"
  | "manual"
  | { readonly deny: { readonly error: string; readonly description?: string } }

/**
 * Settings a test may change while the server runs (see `configure`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly account: Account
  readonly accessTokenLifetime: Duration.Duration
  readonly idTokenLifetime: Duration.Duration
  /** None: refresh tokens never expire. */
  readonly refreshTokenLifetime: Option.Option<Duration.Duration>
  /** Access tokens that are not JWTs, so clients must use `expires_in`. */
  readonly opaqueAccessTokens: boolean
  readonly authorize: AuthorizeMode
  /** Device codes enabled (else `usercode` answers 404). */
  readonly deviceEnabled: boolean
  /** Polls answered 403 before approval, or `"manual"` to wait for `approveDevice`. */
  readonly devicePendingPolls: number | "manual"
  /** `interval` as the server sends it: a string of seconds. */
  readonly deviceInterval: string
  /** How long a device code lives (its `expires_at`); polls after that answer `expired_token`. */
  readonly deviceCodeLifetime: Duration.Duration
  readonly apiKeyExchange: "succeed" | "fail"
  /** On a reused refresh token: only answer `refresh_token_reused`, or also revoke the whole grant. */
  readonly reuse: "reject" | "revoke-grant"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options
  extends Partial<Omit<Settings, "account" | "accessTokenLifetime" | "idTokenLifetime" | "refreshTokenLifetime" | "deviceCodeLifetime">>
{
  readonly deviceCodeLifetime?: Duration.DurationInput
  readonly clientId?: string
  readonly account?: Partial<Account>
  readonly accessTokenLifetime?: Duration.DurationInput
  readonly idTokenLifetime?: Duration.DurationInput
  readonly refreshTokenLifetime?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace FakeOAuthServer {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `http://127.0.0.1:<port>`, also the issuer. */
    readonly url: string
    readonly clientId: string
    /** A provider pointing at this server (with `allowInsecureHttp`). */
    readonly provider: Provider.Info
    readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
    readonly clearRequests: Effect.Effect<void>
    /** Adds a fault rule; call numbers count from now. */
    readonly inject: (rule: Rule) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    readonly configure: (patch: Partial<Settings>) => Effect.Effect<void>
    /** Signs a user in without any HTTP: a new grant, as a login would make. */
    readonly issueTokens: (options?: {
      readonly account?: Partial<Account>
      readonly accessTokenLifetime?: Duration.DurationInput
    }) => Effect.Effect<TokenSet.TokenSet>
    /** Approves a pending device code (for `devicePendingPolls: "manual"`). */
    readonly approveDevice: (userCode: string) => Effect.Effect<boolean>
    /**
     * Declines a pending device code: its polls then answer 400 `access_denied`
     * (RFC 8628 §3.5; OpenAI's own answer to a declined code is not known).
     */
    readonly denyDevice: (userCode: string) => Effect.Effect<boolean>
    /** Revokes the grant a refresh token belongs to, as a sign-out elsewhere would. */
    readonly revokeGrantOf: (refreshToken: string) => Effect.Effect<boolean>
    /**
     * Signs any claims with this server's key (default `iss` is the server,
     * default lifetime one hour): for tests of token verification.
     */
    readonly signToken: (
      payload: jose.JWTPayload,
      options?: { readonly lifetime?: Duration.DurationInput; readonly issuer?: string }
    ) => Effect.Effect<string>
    /**
     * The claims of an access token this server issued, if its signature,
     * issuer and expiry hold and its grant is not revoked.
     */
    readonly verifyAccessToken: (token: string) => Effect.Effect<Option.Option<jose.JWTPayload>>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FakeOAuthServer extends Context.Tag("@subauth/testing/FakeOAuthServer")<
  FakeOAuthServer,
  FakeOAuthServer.Service
>() {}

/**
 * The error bodies OpenAI sends, word for word (fixtures `refresh-errors.json`,
 * `device-token-pending.json`; protocol.md §3.2, §1.6).
 *
 * @since 0.1.0
 * @category constants
 */
export const errorBodies = {
  reused: {
    error: {
      message: "Your refresh token has already been used to generate a new access token. Please try signing in again.",
      type: "invalid_request_error",
      param: null,
      code: "refresh_token_reused"
    }
  },
  expired: {
    error: {
      message: "Your refresh token has expired. Please try signing in again.",
      type: "invalid_request_error",
      param: null,
      code: "refresh_token_expired"
    }
  },
  invalidated: {
    error: {
      message: "Your refresh token has been invalidated. Please try signing in again.",
      type: "invalid_request_error",
      param: null,
      code: "refresh_token_invalidated"
    }
  },
  unknownToken: {
    error: {
      message: "Could not validate your token. Please try signing in again.",
      type: "invalid_request_error",
      code: "token_expired"
    }
  },
  devicePending: {
    error: {
      message: "Device authorization is unknown. Please try again.",
      type: "invalid_request_error",
      code: "deviceauth_authorization_unknown"
    }
  },
  invalidSubjectToken: {
    error: {
      message: "Invalid ID token: missing organization_id",
      type: "invalid_request_error",
      code: "invalid_subject_token"
    }
  }
} as const

const AUTH = "https://api.openai.com/auth"
const PROFILE = "https://api.openai.com/profile"
const TOKEN_SCOPE = "openid profile email offline_access"

interface Grant {
  readonly id: string
  readonly account: Account
  readonly clientId: string
  revoked: boolean
  generation: number
}

interface RefreshRecord {
  readonly grant: Grant
  readonly issuedAt: number
  used: boolean
}

interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly challenge: string
  readonly expiresAt: number
  readonly account: Account
  used: boolean
}

interface DeviceRecord {
  readonly id: string
  readonly userCode: string
  readonly createdAt: number
  polls: number
  approved: boolean
  denied: boolean
  answer: { authorization_code: string; code_challenge: string; code_verifier: string } | undefined
}

const randomHex = (bytes: number) =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

const oauthError = (status: number, error: string, description: string) =>
  HttpServerResponse.unsafeJson({ error, error_description: description }, { status })

const openaiError = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const isLoopbackRedirect = (uri: string): boolean => {
  try {
    const url = new URL(uri)
    return url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]")
  } catch {
    return false
  }
}

/**
 * Starts the server in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const clientId = options.clientId ?? Provider.OPENAI_CLIENT_ID
    let settings: Settings = {
      account: { ...defaultAccount, ...options.account },
      accessTokenLifetime: Duration.decode(options.accessTokenLifetime ?? "1 hour"),
      idTokenLifetime: Duration.decode(options.idTokenLifetime ?? "1 hour"),
      refreshTokenLifetime: Option.map(Option.fromNullable(options.refreshTokenLifetime), Duration.decode),
      opaqueAccessTokens: options.opaqueAccessTokens ?? false,
      authorize: options.authorize ?? "auto-approve",
      deviceEnabled: options.deviceEnabled ?? true,
      devicePendingPolls: options.devicePendingPolls ?? 2,
      deviceInterval: options.deviceInterval ?? "1",
      deviceCodeLifetime: Duration.decode(options.deviceCodeLifetime ?? "15 minutes"),
      apiKeyExchange: options.apiKeyExchange ?? "succeed",
      reuse: options.reuse ?? "reject"
    }

    const kid = `fake-${randomHex(4)}`
    const { privateKey, publicKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256", { extractable: true }))
    const jwk = { ...(yield* Effect.promise(() => jose.exportJWK(publicKey))), kid, alg: "RS256", use: "sig" }

    const recorder = makeRecorder()
    const grants = new Map<string, Grant>()
    const refreshTokens = new Map<string, RefreshRecord>()
    const codes = new Map<string, CodeRecord>()
    const devices = new Map<string, DeviceRecord>()
    const opaqueTokens = new Map<string, { grant: Grant; expiresAt: number }>()
    const pendingAuthorizations = new Map<string, { redirect: URL; state: string; challenge: string; clientId: string }>()

    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("fake OAuth server: expected a TCP address")
    const url = `http://127.0.0.1:${address.port}`
    const provider = yield* Provider.make({ issuer: url, clientId, allowInsecureHttp: true }).pipe(Effect.orDie)

    const sign = (payload: jose.JWTPayload, iat: number, lifetime: Duration.Duration, issuer = url) =>
      Effect.promise(() =>
        new jose.SignJWT(payload)
          .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
          .setIssuer(issuer)
          .setIssuedAt(iat)
          .setExpirationTime(iat + Math.max(1, Math.round(Duration.toSeconds(lifetime))))
          .setJti(globalThis.crypto.randomUUID())
          .sign(privateKey)
      )

    const newGrant = (account: Account, grantClientId: string): Grant => {
      const grant: Grant = { id: `authsess_FAKE_${randomHex(6)}`, account, clientId: grantClientId, revoked: false, generation: 0 }
      grants.set(grant.id, grant)
      return grant
    }

    // Mints the answer of a successful token request: tokens for `grant`, with a fresh refresh token.
    const mint = (grant: Grant, accessLifetime: Duration.Duration = settings.accessTokenLifetime) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const iat = Math.floor(now / 1000)
        const { account } = grant
        grant.generation += 1
        const refreshToken = `rt_FAKE_${grant.id.slice(-6)}_gen${grant.generation}_${randomHex(6)}`
        refreshTokens.set(refreshToken, { grant, issuedAt: now, used: false })
        const accessToken = settings.opaqueAccessTokens
          ? `at_FAKE_${randomHex(16)}`
          : yield* sign({
            aud: ["https://api.openai.com/v1"],
            client_id: grant.clientId,
            sub: `auth0|${account.userId}`,
            scp: ["openid", "profile", "email", "offline_access"],
            session_id: grant.id,
            [AUTH]: {
              chatgpt_account_id: account.accountId,
              chatgpt_account_user_id: `${account.userId}__${account.accountId}`,
              chatgpt_plan_type: account.planType,
              chatgpt_user_id: account.userId,
              user_id: account.userId
            },
            [PROFILE]: { email: account.email, email_verified: true }
          }, iat, accessLifetime)
        if (settings.opaqueAccessTokens) opaqueTokens.set(accessToken, { grant, expiresAt: now + Duration.toMillis(accessLifetime) })
        const idToken = yield* sign({
          aud: [grant.clientId],
          sub: `auth0|${account.userId}`,
          email: account.email,
          email_verified: true,
          auth_time: iat,
          [AUTH]: {
            chatgpt_account_id: account.accountId,
            chatgpt_plan_type: account.planType,
            chatgpt_user_id: account.userId,
            user_id: account.userId,
            organizations: [{ id: account.organizationId, is_default: true, role: "owner", title: "Personal" }]
          }
        }, iat, settings.idTokenLifetime)
        return {
          id_token: idToken,
          access_token: accessToken,
          refresh_token: refreshToken,
          token_type: "Bearer",
          expires_in: Math.round(Duration.toSeconds(accessLifetime)),
          scope: TOKEN_SCOPE
        }
      })

    const verifyJwt = (token: string, audience?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.tryPromise(() =>
          jose.jwtVerify(token, publicKey, {
            issuer: url,
            algorithms: ["RS256"],
            currentDate: new Date(now),
            ...(audience !== undefined ? { audience } : {})
          })
        ).pipe(Effect.map((r) => Option.some(r.payload)), Effect.orElseSucceed(() => Option.none<jose.JWTPayload>())))

    const verifyAccessToken = (token: string): Effect.Effect<Option.Option<jose.JWTPayload>> =>
      Effect.gen(function*() {
        const opaque = opaqueTokens.get(token)
        if (opaque !== undefined) {
          const now = yield* Clock.currentTimeMillis
          return now < opaque.expiresAt && !opaque.grant.revoked
            ? Option.some<jose.JWTPayload>({ session_id: opaque.grant.id, [AUTH]: { chatgpt_account_id: opaque.grant.account.accountId } })
            : Option.none()
        }
        const payload = yield* verifyJwt(token, "https://api.openai.com/v1")
        return Option.filter(payload, (p) => grants.get(String(p.session_id))?.revoked === false)
      })

    // --- /oauth/token ---------------------------------------------------------------------------

    const refreshGrant = (req: Incoming) =>
      Effect.gen(function*() {
        const sentClient = req.field("client_id")
        if (sentClient === undefined || sentClient === "") {
          return openaiError(400, {
            error: {
              message: "Missing required parameter: 'client_id'.",
              type: "invalid_request_error",
              param: "client_id",
              code: "missing_required_parameter"
            }
          })
        }
        if (sentClient !== clientId) return oauthError(401, "invalid_client", "unknown client")
        const token = req.field("refresh_token") ?? ""
        if (token === "") {
          return openaiError(400, {
            error: {
              message: "Invalid 'refresh_token': empty string. Expected a string with minimum length 1.",
              type: "invalid_request_error",
              param: "refresh_token",
              code: "empty_string"
            }
          })
        }
        const now = yield* Clock.currentTimeMillis
        // Check and spend in one synchronous step: concurrent requests cannot both spend a token.
        const outcome = yield* Effect.sync(() => {
          const record = refreshTokens.get(token)
          if (record === undefined) return { _tag: "error" as const, body: errorBodies.unknownToken }
          if (record.grant.revoked) return { _tag: "error" as const, body: errorBodies.invalidated }
          if (record.used) {
            if (settings.reuse === "revoke-grant") record.grant.revoked = true
            return { _tag: "error" as const, body: errorBodies.reused }
          }
          if (
            Option.isSome(settings.refreshTokenLifetime) &&
            now >= record.issuedAt + Duration.toMillis(settings.refreshTokenLifetime.value)
          ) return { _tag: "error" as const, body: errorBodies.expired }
          record.used = true
          return { _tag: "ok" as const, grant: record.grant }
        })
        if (outcome._tag === "error") return openaiError(401, outcome.body)
        return HttpServerResponse.unsafeJson(yield* mint(outcome.grant))
      })

    const codeGrant = (req: Incoming) =>
      Effect.gen(function*() {
        const code = req.field("code") ?? ""
        const now = yield* Clock.currentTimeMillis
        const known = codes.get(code)
        const verifierOk = known !== undefined && (yield* Pkce.verify(req.field("code_verifier") ?? "", known.challenge))
        // Check and spend in one synchronous step: a code is exchanged once, however many try at once.
        const outcome = yield* Effect.sync(() => {
          const record = codes.get(code)
          if (record === undefined || record.used || now >= record.expiresAt) {
            return oauthError(400, "invalid_grant", "the authorization code is invalid, expired or already used")
          }
          if (req.field("client_id") !== record.clientId) return oauthError(401, "invalid_client", "client_id does not match the code")
          if (req.field("redirect_uri") !== record.redirectUri) {
            return oauthError(400, "invalid_grant", "redirect_uri does not match the authorization request")
          }
          if (!verifierOk) return oauthError(400, "invalid_grant", "code_verifier does not match the code_challenge")
          record.used = true
          return record
        })
        return "status" in outcome ? outcome : HttpServerResponse.unsafeJson(yield* mint(newGrant(outcome.account, outcome.clientId)))
      })

    const tokenExchange = (req: Incoming) =>
      Effect.gen(function*() {
        if (req.field("requested_token") !== "openai-api-key") {
          return oauthError(400, "invalid_request", "requested_token must be openai-api-key")
        }
        const subject = yield* verifyJwt(req.field("subject_token") ?? "", req.field("client_id") ?? "")
        if (settings.apiKeyExchange === "fail" || Option.isNone(subject)) return openaiError(401, errorBodies.invalidSubjectToken)
        return HttpServerResponse.unsafeJson({ access_token: `sk-proj-FAKE-${randomHex(16)}` })
      })

    const token = recorder.instrument("token", (req) => {
      switch (req.field("grant_type")) {
        case "refresh_token":
          return refreshGrant(req)
        case "authorization_code":
          return codeGrant(req)
        case "urn:ietf:params:oauth:grant-type:token-exchange":
          return tokenExchange(req)
        default:
          return Effect.succeed(oauthError(400, "unsupported_grant_type", "grant_type is not supported"))
      }
    })

    // --- /oauth/authorize -----------------------------------------------------------------------

    const issueCode = (redirect: URL, state: string, challenge: string, codeClientId: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const code = `ac_FAKE_${randomHex(8)}`
        codes.set(code, {
          clientId: codeClientId,
          redirectUri: redirect.toString(),
          challenge,
          expiresAt: now + 10 * 60_000,
          account: settings.account,
          used: false
        })
        const target = new URL(redirect)
        target.searchParams.set("code", code)
        target.searchParams.set("scope", TOKEN_SCOPE)
        target.searchParams.set("state", state)
        return target
      })

    const denyUrl = (redirect: URL, state: string, deny: { readonly error: string; readonly description?: string }) => {
      const target = new URL(redirect)
      target.searchParams.set("error", deny.error)
      if (deny.description !== undefined) target.searchParams.set("error_description", deny.description)
      target.searchParams.set("state", state)
      return target
    }

    const authorize = recorder.instrument("authorize", (req) =>
      Effect.gen(function*() {
        const q = req.url.searchParams
        const problems = [
          q.get("response_type") !== "code" && "response_type must be code",
          q.get("client_id") !== clientId && "unknown client_id",
          !isLoopbackRedirect(q.get("redirect_uri") ?? "") && "redirect_uri must be an http loopback URL",
          !q.get("code_challenge") && "code_challenge is required",
          q.get("code_challenge_method") !== "S256" && "code_challenge_method must be S256",
          !q.get("state") && "state is required"
        ].filter((p): p is string => typeof p === "string")
        if (problems.length > 0) {
          return HttpServerResponse.html(page("Invalid request", `<h1>Route Error (400 Invalid Request)</h1><p>${escapeHtml(problems.join("; "))}</p>`)).pipe(
            HttpServerResponse.setStatus(400)
          )
        }
        const redirect = new URL(q.get("redirect_uri")!)
        const state = q.get("state")!
        const challenge = q.get("code_challenge")!
        const mode = settings.authorize
        if (mode === "auto-approve") return HttpServerResponse.redirect(yield* issueCode(redirect, state, challenge, clientId))
        if (mode !== "manual") return HttpServerResponse.redirect(denyUrl(redirect, state, mode.deny))
        const id = randomHex(8)
        pendingAuthorizations.set(id, { redirect, state, challenge, clientId })
        return HttpServerResponse.html(page(
          "Sign in (fake)",
          `<h1>Fake sign-in for ${escapeHtml(settings.account.email)}</h1>` +
            `<p><a id="approve" href="/oauth/authorize/decision?id=${id}&amp;approve=1">Continue</a> ` +
            `<a id="deny" href="/oauth/authorize/decision?id=${id}&amp;approve=0">Cancel</a></p>`
        ))
      }))

    const decision = recorder.instrument("authorizeDecision", (req) =>
      Effect.gen(function*() {
        const pending = pendingAuthorizations.get(req.url.searchParams.get("id") ?? "")
        if (pending === undefined) return HttpServerResponse.text("unknown authorization request", { status: 404 })
        pendingAuthorizations.delete(req.url.searchParams.get("id")!)
        return req.url.searchParams.get("approve") === "1"
          ? HttpServerResponse.redirect(yield* issueCode(pending.redirect, pending.state, pending.challenge, pending.clientId))
          : HttpServerResponse.redirect(denyUrl(pending.redirect, pending.state, { error: "access_denied", description: "the user cancelled" }))
      }))

    // --- device code (protocol.md §2) -----------------------------------------------------------

    const approveAnswer = (device: DeviceRecord) =>
      Effect.gen(function*() {
        if (device.answer !== undefined) return device.answer
        const verifier = Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
        const challenge = yield* Pkce.challengeOf(verifier)
        const code = `ac_FAKE_device_${randomHex(8)}`
        const now = yield* Clock.currentTimeMillis
        codes.set(code, {
          clientId,
          redirectUri: provider.endpoints.deviceCallback,
          challenge,
          expiresAt: now + 10 * 60_000,
          account: settings.account,
          used: false
        })
        device.answer = { authorization_code: code, code_challenge: challenge, code_verifier: verifier }
        return device.answer
      })

    const deviceUserCode = recorder.instrument("deviceUserCode", (req) =>
      Effect.gen(function*() {
        if (!settings.deviceEnabled) {
          return openaiError(404, { error: { message: "Not found", type: "invalid_request_error", code: "not_found" } })
        }
        const body = req.json as { client_id?: unknown } | undefined
        if (body?.client_id !== clientId) return oauthError(400, "invalid_client", "unknown client_id")
        const now = yield* Clock.currentTimeMillis
        const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        const suffix = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(5)), (b) => alphabet[b % alphabet.length]).join("")
        const device: DeviceRecord = {
          id: `deviceauth_FAKE_${randomHex(6)}`,
          userCode: `FAKE-${suffix}`,
          createdAt: now,
          polls: 0,
          approved: settings.devicePendingPolls === 0,
          denied: false,
          answer: undefined
        }
        devices.set(device.id, device)
        return HttpServerResponse.unsafeJson({
          device_auth_id: device.id,
          user_code: device.userCode,
          interval: settings.deviceInterval,
          expires_at: DateTime.formatIso(DateTime.unsafeMake(now + Duration.toMillis(settings.deviceCodeLifetime)))
        })
      }))

    const deviceToken = recorder.instrument("deviceToken", (req) =>
      Effect.gen(function*() {
        const body = req.json as { device_auth_id?: unknown; user_code?: unknown } | undefined
        const device = devices.get(String(body?.device_auth_id))
        if (device === undefined || device.userCode !== body?.user_code) {
          return openaiError(400, {
            error: { message: "Unknown device authorization.", type: "invalid_request_error", code: "deviceauth_invalid" }
          })
        }
        device.polls += 1
        if (device.denied) return oauthError(400, "access_denied", "the user declined the device authorization")
        if ((yield* Clock.currentTimeMillis) >= device.createdAt + Duration.toMillis(settings.deviceCodeLifetime)) {
          return oauthError(400, "expired_token", "the device code has expired")
        }
        if (typeof settings.devicePendingPolls === "number" && device.polls > settings.devicePendingPolls) device.approved = true
        if (!device.approved) return openaiError(403, errorBodies.devicePending)
        return HttpServerResponse.unsafeJson(yield* approveAnswer(device))
      }))

    const decide = (userCode: string, approve: boolean) =>
      Effect.sync(() => {
        for (const device of devices.values()) {
          if (device.userCode === userCode) {
            if (approve) device.approved = true
            else device.denied = true
            return true
          }
        }
        return false
      })
    const approveDevice = (userCode: string) => decide(userCode, true)

    const deviceVerification = recorder.instrument("deviceVerification", (req) =>
      Effect.gen(function*() {
        if (req.method === "POST") {
          const ok = yield* approveDevice(req.field("user_code") ?? "")
          return HttpServerResponse.html(page("Device", ok ? "<p>Device approved. Return to your terminal.</p>" : "<p>Unknown code.</p>"))
            .pipe(HttpServerResponse.setStatus(ok ? 200 : 404))
        }
        return HttpServerResponse.html(page(
          "Device",
          `<form method="post"><label>Code <input name="user_code"></label><button>Continue</button></form>`
        ))
      }))

    // --- revoke, jwks ---------------------------------------------------------------------------

    const revokeGrantOf = (refreshToken: string) =>
      Effect.sync(() => {
        const record = refreshTokens.get(refreshToken)
        if (record === undefined) return false
        record.grant.revoked = true
        return true
      })

    const revoke = recorder.instrument("revoke", (req) =>
      Effect.gen(function*() {
        const token = req.field("token") ?? ""
        if (!(yield* revokeGrantOf(token))) {
          const claims = yield* verifyAccessToken(token)
          if (Option.isSome(claims)) {
            const grant = grants.get(String(claims.value.session_id))
            if (grant !== undefined) grant.revoked = true
          }
        }
        return HttpServerResponse.unsafeJson({})
      }))

    const jwks = recorder.instrument("jwks", () => Effect.succeed(HttpServerResponse.unsafeJson({ keys: [jwk] })))

    const app = HttpRouter.empty.pipe(
      HttpRouter.get("/oauth/authorize", authorize),
      HttpRouter.get("/oauth/authorize/decision", decision),
      HttpRouter.post("/oauth/token", token),
      HttpRouter.post("/oauth/revoke", revoke),
      HttpRouter.post("/api/accounts/deviceauth/usercode", deviceUserCode),
      HttpRouter.post("/api/accounts/deviceauth/token", deviceToken),
      HttpRouter.get("/codex/device", deviceVerification),
      HttpRouter.post("/codex/device", deviceVerification),
      HttpRouter.get("/.well-known/jwks.json", jwks)
    )
    yield* server.serve(app)

    const service: FakeOAuthServer.Service = {
      url,
      clientId,
      provider,
      requests: recorder.requests,
      clearRequests: recorder.clearRequests,
      inject: recorder.inject,
      clearFaults: recorder.clearFaults,
      configure: (patch) => Effect.sync(() => void (settings = { ...settings, ...patch })),
      issueTokens: (issue = {}) =>
        Effect.gen(function*() {
          const grant = newGrant({ ...settings.account, ...issue.account }, clientId)
          const body = yield* mint(
            grant,
            issue.accessTokenLifetime !== undefined ? Duration.decode(issue.accessTokenLifetime) : settings.accessTokenLifetime
          )
          const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
          return TokenSet.fromResponse(body, now)
        }),
      approveDevice,
      denyDevice: (userCode) => decide(userCode, false),
      revokeGrantOf,
      signToken: (payload, signOptions = {}) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          sign(payload, Math.floor(now / 1000), Duration.decode(signOptions.lifetime ?? "1 hour"), signOptions.issuer ?? url)),
      verifyAccessToken
    }
    return service
  })

/**
 * The server, bound to a random port on 127.0.0.1 for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<FakeOAuthServer, HttpServerError.ServeError> =>
  Layer.scoped(FakeOAuthServer, make(options))

/**
 * A `Provider` pointing at the fake server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerProvider: Layer.Layer<Provider.Provider, never, FakeOAuthServer> = Layer.effect(
  Provider.Provider,
  Effect.map(FakeOAuthServer, (server) => server.provider)
)
