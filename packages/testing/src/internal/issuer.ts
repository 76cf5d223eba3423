/**
 * The fake issuer's state machine, without HTTP: grants, refresh tokens with
 * rotation and reuse detection, authorization codes, device codes, signing
 * and verification. `FakeOAuthServer` routes requests here and turns the
 * {@link Answer}s into responses; the tests of this module call it directly.
 *
 * Every check-and-spend (a refresh token, a code) is one synchronous step, so
 * concurrent requests cannot both spend the same thing.
 *
 * @see protocol.md §1–§4
 */
import { Pkce, Provider } from "@subauth/core"
import { Clock, DateTime, Duration, Effect, Encoding, Option } from "effect"
import * as jose from "jose"
import type { Account, Settings } from "../FakeOAuthServer.js"
import { randomHex } from "./random.js"

/**
 * The error bodies OpenAI sends, word for word (fixtures `refresh-errors.json`,
 * `device-token-pending.json`; protocol.md §3.2, §1.6).
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

/** What an endpoint answers: a status and a JSON body. */
export interface Answer {
  readonly status: number
  readonly body: unknown
}

/** The body of a successful token request. */
export interface TokenBody {
  readonly id_token: string
  readonly access_token: string
  readonly refresh_token: string
  readonly token_type: "Bearer"
  readonly expires_in: number
  readonly scope: string
}

const AUTH = "https://api.openai.com/auth"
const PROFILE = "https://api.openai.com/profile"
const ACCESS_AUDIENCE = "https://api.openai.com/v1"

/** The scope of every token. */
export const TOKEN_SCOPE = "openid profile email offline_access"

const CODE_LIFETIME = 10 * 60_000

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

/** A pending `manual` authorization, waiting for approve or deny. */
export interface PendingAuthorization {
  readonly redirect: URL
  readonly state: string
  readonly challenge: string
  readonly clientId: string
}

const json = (status: number, body: unknown): Answer => ({ status, body })
const oauthError = (status: number, error: string, description: string): Answer =>
  json(status, { error, error_description: description })

/** Reads a field of a request, form-encoded or JSON alike. */
export type Fields = (name: string) => string | undefined

/**
 * Makes an issuer named `url` for `clientId`, its settings read through
 * `settings` at each step (a test may change them while it runs).
 */
export const make = (options: {
  readonly url: string
  readonly clientId: string
  /** Where device codes are redeemed (`redirect_uri` of their exchange). */
  readonly deviceCallback: string
  readonly settings: () => Settings
}) =>
  Effect.gen(function*() {
    const { url, clientId, settings } = options
    const kid = `fake-${randomHex(4)}`
    const { privateKey, publicKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256", { extractable: true }))
    const jwk = { ...(yield* Effect.promise(() => jose.exportJWK(publicKey))), kid, alg: "RS256", use: "sig" }

    const grants = new Map<string, Grant>()
    const refreshTokens = new Map<string, RefreshRecord>()
    const codes = new Map<string, CodeRecord>()
    const devices = new Map<string, DeviceRecord>()
    const opaqueTokens = new Map<string, { grant: Grant; expiresAt: number }>()
    const pendingAuthorizations = new Map<string, PendingAuthorization>()

    // --- signing and verification -----------------------------------------------------------------

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

    /** The claims of an access token this issuer made, if it verifies and its grant stands. */
    const verifyAccessToken = (token: string): Effect.Effect<Option.Option<jose.JWTPayload>> =>
      Effect.gen(function*() {
        const opaque = opaqueTokens.get(token)
        if (opaque !== undefined) {
          const now = yield* Clock.currentTimeMillis
          return now < opaque.expiresAt && !opaque.grant.revoked
            ? Option.some<jose.JWTPayload>({ session_id: opaque.grant.id, [AUTH]: { chatgpt_account_id: opaque.grant.account.accountId } })
            : Option.none()
        }
        const payload = yield* verifyJwt(token, ACCESS_AUDIENCE)
        return Option.filter(payload, (p) => grants.get(String(p.session_id))?.revoked === false)
      })

    // --- grants and tokens --------------------------------------------------------------------------

    const newGrant = (account: Account, grantClientId: string): Grant => {
      const grant: Grant = { id: `authsess_FAKE_${randomHex(6)}`, account, clientId: grantClientId, revoked: false, generation: 0 }
      grants.set(grant.id, grant)
      return grant
    }

    /** The answer of a successful token request: tokens for `grant`, with a fresh refresh token. */
    const mint = (grant: Grant, accessLifetime: Duration.Duration = settings().accessTokenLifetime) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const iat = Math.floor(now / 1000)
        const { account } = grant
        const opaque = settings().opaqueAccessTokens
        grant.generation += 1
        const refreshToken = `rt_FAKE_${grant.id.slice(-6)}_gen${grant.generation}_${randomHex(6)}`
        refreshTokens.set(refreshToken, { grant, issuedAt: now, used: false })
        const accessToken = opaque
          ? `at_FAKE_${randomHex(16)}`
          : yield* sign({
            aud: [ACCESS_AUDIENCE],
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
        if (opaque) opaqueTokens.set(accessToken, { grant, expiresAt: now + Duration.toMillis(accessLifetime) })
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
        }, iat, settings().idTokenLifetime)
        return {
          id_token: idToken,
          access_token: accessToken,
          refresh_token: refreshToken,
          token_type: "Bearer",
          expires_in: Math.round(Duration.toSeconds(accessLifetime)),
          scope: TOKEN_SCOPE
        } satisfies TokenBody
      })

    /** Signs a user in without any HTTP: a new grant, as a login would make. */
    const issueTokens = (account: Account, accessLifetime?: Duration.Duration) =>
      mint(newGrant(account, clientId), accessLifetime)

    // --- POST /oauth/token ----------------------------------------------------------------------------

    /** `grant_type=refresh_token`: rotation, and reuse detection (`settings.reuse`). */
    const refreshGrant = (field: Fields): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        const sentClient = field("client_id")
        if (sentClient === undefined || sentClient === "") {
          return json(400, {
            error: {
              message: "Missing required parameter: 'client_id'.",
              type: "invalid_request_error",
              param: "client_id",
              code: "missing_required_parameter"
            }
          })
        }
        if (sentClient !== clientId) return oauthError(401, "invalid_client", "unknown client")
        const token = field("refresh_token") ?? ""
        if (token === "") {
          return json(400, {
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
          const { reuse, refreshTokenLifetime } = settings()
          if (record.used) {
            if (reuse === "revoke-grant") record.grant.revoked = true
            return { _tag: "error" as const, body: errorBodies.reused }
          }
          if (Option.isSome(refreshTokenLifetime) && now >= record.issuedAt + Duration.toMillis(refreshTokenLifetime.value)) {
            return { _tag: "error" as const, body: errorBodies.expired }
          }
          record.used = true
          return { _tag: "ok" as const, grant: record.grant }
        })
        if (outcome._tag === "error") return json(401, outcome.body)
        return json(200, yield* mint(outcome.grant))
      })

    /** `grant_type=authorization_code`: once, for its client and redirect, with the verifier of its challenge. */
    const codeGrant = (field: Fields): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        const code = field("code") ?? ""
        const now = yield* Clock.currentTimeMillis
        const known = codes.get(code)
        const verifierOk = known !== undefined && (yield* Pkce.verify(field("code_verifier") ?? "", known.challenge))
        // Check and spend in one synchronous step: a code is exchanged once, however many try at once.
        const outcome = yield* Effect.sync((): Answer | CodeRecord => {
          const record = codes.get(code)
          if (record === undefined || record.used || now >= record.expiresAt) {
            return oauthError(400, "invalid_grant", "the authorization code is invalid, expired or already used")
          }
          if (field("client_id") !== record.clientId) return oauthError(401, "invalid_client", "client_id does not match the code")
          if (field("redirect_uri") !== record.redirectUri) {
            return oauthError(400, "invalid_grant", "redirect_uri does not match the authorization request")
          }
          if (!verifierOk) return oauthError(400, "invalid_grant", "code_verifier does not match the code_challenge")
          record.used = true
          return record
        })
        return "status" in outcome ? outcome : json(200, yield* mint(newGrant(outcome.account, outcome.clientId)))
      })

    /** The token exchange for an API key (`requested_token=openai-api-key`). */
    const tokenExchange = (field: Fields): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        if (field("requested_token") !== "openai-api-key") {
          return oauthError(400, "invalid_request", "requested_token must be openai-api-key")
        }
        const subject = yield* verifyJwt(field("subject_token") ?? "", field("client_id") ?? "")
        if (settings().apiKeyExchange === "fail" || Option.isNone(subject)) return json(401, errorBodies.invalidSubjectToken)
        return json(200, { access_token: `sk-proj-FAKE-${randomHex(16)}` })
      })

    /** `POST /oauth/token`, by `grant_type`. */
    const token = (field: Fields): Effect.Effect<Answer> => {
      switch (field("grant_type")) {
        case "refresh_token":
          return refreshGrant(field)
        case "authorization_code":
          return codeGrant(field)
        case "urn:ietf:params:oauth:grant-type:token-exchange":
          return tokenExchange(field)
        default:
          return Effect.succeed(oauthError(400, "unsupported_grant_type", "grant_type is not supported"))
      }
    }

    // --- /oauth/authorize -----------------------------------------------------------------------------

    const storeCode = (code: string, record: Omit<CodeRecord, "expiresAt" | "account" | "used">) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        void codes.set(code, { ...record, expiresAt: now + CODE_LIFETIME, account: settings().account, used: false }))

    /** A code for the settings' account, and the redirect that carries it. */
    const issueCode = (pending: PendingAuthorization) =>
      Effect.gen(function*() {
        const code = `ac_FAKE_${randomHex(8)}`
        yield* storeCode(code, { clientId: pending.clientId, redirectUri: pending.redirect.toString(), challenge: pending.challenge })
        const target = new URL(pending.redirect)
        target.searchParams.set("code", code)
        target.searchParams.set("scope", TOKEN_SCOPE)
        target.searchParams.set("state", pending.state)
        return target
      })

    /** The redirect that says no. */
    const denyUrl = (pending: PendingAuthorization, deny: { readonly error: string; readonly description?: string }) => {
      const target = new URL(pending.redirect)
      target.searchParams.set("error", deny.error)
      if (deny.description !== undefined) target.searchParams.set("error_description", deny.description)
      target.searchParams.set("state", pending.state)
      return target
    }

    /**
     * `GET /oauth/authorize`: what is wrong with the request, or what the
     * settings say to do (redirect with a code or an error, or hold it for a
     * decision).
     */
    const authorize = (q: URLSearchParams): Effect.Effect<
      | { readonly _tag: "Invalid"; readonly problems: ReadonlyArray<string> }
      | { readonly _tag: "Redirect"; readonly url: URL }
      | { readonly _tag: "Held"; readonly id: string }
    > =>
      Effect.gen(function*() {
        const problems = [
          q.get("response_type") !== "code" && "response_type must be code",
          q.get("client_id") !== clientId && "unknown client_id",
          !isLoopbackRedirect(q.get("redirect_uri") ?? "") && "redirect_uri must be an http loopback URL",
          !q.get("code_challenge") && "code_challenge is required",
          q.get("code_challenge_method") !== "S256" && "code_challenge_method must be S256",
          !q.get("state") && "state is required"
        ].filter((p): p is string => typeof p === "string")
        if (problems.length > 0) return { _tag: "Invalid", problems } as const
        const pending: PendingAuthorization = {
          redirect: new URL(q.get("redirect_uri")!),
          state: q.get("state")!,
          challenge: q.get("code_challenge")!,
          clientId
        }
        const mode = settings().authorize
        if (mode === "auto-approve") return { _tag: "Redirect", url: yield* issueCode(pending) } as const
        if (mode !== "manual") return { _tag: "Redirect", url: denyUrl(pending, mode.deny) } as const
        const id = randomHex(8)
        pendingAuthorizations.set(id, pending)
        return { _tag: "Held", id } as const
      })

    /** The decision on a held authorization: its redirect, or none when there is no such authorization. */
    const decide = (id: string, approve: boolean): Effect.Effect<Option.Option<URL>> =>
      Effect.suspend(() => {
        const pending = pendingAuthorizations.get(id)
        if (pending === undefined) return Effect.succeedNone
        pendingAuthorizations.delete(id)
        return approve
          ? Effect.asSome(issueCode(pending))
          : Effect.succeedSome(denyUrl(pending, { error: "access_denied", description: "the user cancelled" }))
      })

    // --- device code (protocol.md §2) -------------------------------------------------------------------

    const approvedAnswer = (device: DeviceRecord) =>
      Effect.gen(function*() {
        if (device.answer !== undefined) return device.answer
        const verifier = Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
        const challenge = yield* Pkce.challengeOf(verifier)
        const code = `ac_FAKE_device_${randomHex(8)}`
        yield* storeCode(code, { clientId, redirectUri: options.deviceCallback, challenge })
        device.answer = { authorization_code: code, code_challenge: challenge, code_verifier: verifier }
        return device.answer
      })

    /** `POST …/deviceauth/usercode`. */
    const deviceUserCode = (body: unknown): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        const { deviceEnabled, devicePendingPolls, deviceInterval, deviceCodeLifetime } = settings()
        if (!deviceEnabled) return json(404, { error: { message: "Not found", type: "invalid_request_error", code: "not_found" } })
        if ((body as { client_id?: unknown } | undefined)?.client_id !== clientId) {
          return oauthError(400, "invalid_client", "unknown client_id")
        }
        const now = yield* Clock.currentTimeMillis
        const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        const suffix = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(5)), (b) => alphabet[b % alphabet.length]).join("")
        const device: DeviceRecord = {
          id: `deviceauth_FAKE_${randomHex(6)}`,
          userCode: `FAKE-${suffix}`,
          createdAt: now,
          polls: 0,
          approved: devicePendingPolls === 0,
          denied: false,
          answer: undefined
        }
        devices.set(device.id, device)
        return json(200, {
          device_auth_id: device.id,
          user_code: device.userCode,
          interval: deviceInterval,
          expires_at: DateTime.formatIso(DateTime.unsafeMake(now + Duration.toMillis(deviceCodeLifetime)))
        })
      })

    /** `POST …/deviceauth/token`: 403 while pending, then the code and the PKCE pair the server made. */
    const deviceToken = (body: unknown): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        const poll = body as { device_auth_id?: unknown; user_code?: unknown } | undefined
        const device = devices.get(String(poll?.device_auth_id))
        if (device === undefined || device.userCode !== poll?.user_code) {
          return json(400, {
            error: { message: "Unknown device authorization.", type: "invalid_request_error", code: "deviceauth_invalid" }
          })
        }
        device.polls += 1
        // RFC 8628 §3.5's answers for a declined or expired code (OpenAI's own are not known).
        if (device.denied) return oauthError(400, "access_denied", "the user declined the device authorization")
        if ((yield* Clock.currentTimeMillis) >= device.createdAt + Duration.toMillis(settings().deviceCodeLifetime)) {
          return oauthError(400, "expired_token", "the device code has expired")
        }
        const pendingPolls = settings().devicePendingPolls
        if (typeof pendingPolls === "number" && device.polls > pendingPolls) device.approved = true
        if (!device.approved) return json(403, errorBodies.devicePending)
        return json(200, yield* approvedAnswer(device))
      })

    /** Approves (or declines) a pending device code, as the person entering it would. */
    const decideDevice = (userCode: string, approve: boolean) =>
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
    const approveDevice = (userCode: string) => decideDevice(userCode, true)
    const denyDevice = (userCode: string) => decideDevice(userCode, false)

    // --- revocation -------------------------------------------------------------------------------------

    /** Revokes the grant a refresh token belongs to, as a sign-out elsewhere would. */
    const revokeGrantOf = (refreshToken: string) =>
      Effect.sync(() => {
        const record = refreshTokens.get(refreshToken)
        if (record === undefined) return false
        record.grant.revoked = true
        return true
      })

    /** `POST /oauth/revoke`: a refresh token or an access token ends its grant. */
    const revoke = (token: string) =>
      Effect.gen(function*() {
        if (yield* revokeGrantOf(token)) return
        const claims = yield* verifyAccessToken(token)
        if (Option.isSome(claims)) {
          const grant = grants.get(String(claims.value.session_id))
          if (grant !== undefined) grant.revoked = true
        }
      })

    return {
      jwk,
      sign,
      verifyAccessToken,
      issueTokens,
      token,
      authorize,
      decide,
      deviceUserCode,
      deviceToken,
      approveDevice,
      denyDevice,
      revokeGrantOf,
      revoke
    }
  })

/** The issuer `make` builds. */
export type Issuer = Effect.Effect.Success<ReturnType<typeof make>>

const isLoopbackRedirect = (uri: string): boolean =>
  URL.canParse(uri) && new URL(uri).protocol === "http:" && Provider.isLoopback(new URL(uri).hostname)
