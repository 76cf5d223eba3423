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
import { Provider, TokenSet } from "@subauth/core"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option } from "effect"
import type * as jose from "jose"
import type { RecordedRequest, Rule } from "./FakeHttp.js"
import { escapeHtml, page } from "./internal/html.js"
import { makeRecorder } from "./internal/instrument.js"
import * as Issuer from "./internal/issuer.js"
import { listen } from "./internal/listen.js"

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
export const errorBodies = Issuer.errorBodies

const invalidPage = (problems: ReadonlyArray<string>) =>
  HttpServerResponse.html(page("Invalid request", `<h1>Route Error (400 Invalid Request)</h1><p>${escapeHtml(problems.join("; "))}</p>`))
    .pipe(HttpServerResponse.setStatus(400))

const respond = (answer: Issuer.Answer) => HttpServerResponse.unsafeJson(answer.body, { status: answer.status })

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

    const recorder = makeRecorder()
    const { server, url } = yield* listen("fake OAuth server")
    const provider = yield* Provider.make({ issuer: url, clientId, allowInsecureHttp: true }).pipe(Effect.orDie)
    const issuer = yield* Issuer.make({
      url,
      clientId,
      deviceCallback: provider.endpoints.deviceCallback,
      settings: () => settings
    })

    const token = recorder.instrument("token", (req) => Effect.map(issuer.token(req.field), respond))

    const authorize = recorder.instrument("authorize", (req) =>
      Effect.map(issuer.authorize(req.url.searchParams), (outcome) => {
        switch (outcome._tag) {
          case "Invalid":
            return invalidPage(outcome.problems)
          case "Redirect":
            return HttpServerResponse.redirect(outcome.url)
          case "Held":
            return HttpServerResponse.html(page(
              "Sign in (fake)",
              `<h1>Fake sign-in for ${escapeHtml(settings.account.email)}</h1>` +
                `<p><a id="approve" href="/oauth/authorize/decision?id=${outcome.id}&amp;approve=1">Continue</a> ` +
                `<a id="deny" href="/oauth/authorize/decision?id=${outcome.id}&amp;approve=0">Cancel</a></p>`
            ))
        }
      }))

    const decision = recorder.instrument("authorizeDecision", (req) =>
      Effect.map(
        issuer.decide(req.url.searchParams.get("id") ?? "", req.url.searchParams.get("approve") === "1"),
        Option.match({
          onNone: () => HttpServerResponse.text("unknown authorization request", { status: 404 }),
          onSome: (target) => HttpServerResponse.redirect(target)
        })
      ))

    const deviceUserCode = recorder.instrument("deviceUserCode", (req) => Effect.map(issuer.deviceUserCode(req.json), respond))

    const deviceToken = recorder.instrument("deviceToken", (req) => Effect.map(issuer.deviceToken(req.json), respond))

    const deviceVerification = recorder.instrument("deviceVerification", (req) =>
      Effect.gen(function*() {
        if (req.method === "POST") {
          const ok = yield* issuer.approveDevice(req.field("user_code") ?? "")
          return HttpServerResponse.html(page("Device", ok ? "<p>Device approved. Return to your terminal.</p>" : "<p>Unknown code.</p>"))
            .pipe(HttpServerResponse.setStatus(ok ? 200 : 404))
        }
        return HttpServerResponse.html(page(
          "Device",
          `<form method="post"><label>Code <input name="user_code"></label><button>Continue</button></form>`
        ))
      }))

    const revoke = recorder.instrument("revoke", (req) =>
      Effect.as(issuer.revoke(req.field("token") ?? ""), HttpServerResponse.unsafeJson({})))

    const jwks = recorder.instrument("jwks", () => Effect.succeed(HttpServerResponse.unsafeJson({ keys: [issuer.jwk] })))

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
          const body = yield* issuer.issueTokens(
            { ...settings.account, ...issue.account },
            issue.accessTokenLifetime !== undefined ? Duration.decode(issue.accessTokenLifetime) : undefined
          )
          const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
          return TokenSet.fromResponse(body, now)
        }),
      approveDevice: issuer.approveDevice,
      denyDevice: issuer.denyDevice,
      revokeGrantOf: issuer.revokeGrantOf,
      signToken: (payload, signOptions = {}) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          issuer.sign(payload, Math.floor(now / 1000), Duration.decode(signOptions.lifetime ?? "1 hour"), signOptions.issuer ?? url)),
      verifyAccessToken: issuer.verifyAccessToken
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
