/**
 * The "Sign in with ChatGPT" page the broker serves, so that an app needs no
 * UI of its own: the app creates a connect session and sends its user to the
 * session's `connect_url`.
 *
 * - **The link works once.** `/connect/l/<token>` (valid 10 minutes) trades
 *   the token for an HttpOnly, SameSite=Strict cookie and moves on to
 *   `/connect` without a script, so the token leaves the address bar, the
 *   logs and any Referer. A replayed or late link is a page saying so (410).
 * - **Consent from the user.** The short notice every time, the longer
 *   disclaimer the first time for that user, and an explicit "continue means I
 *   accept" step, recorded as the consent record (terms version, the hash of
 *   the text shown in the user's language, attested by `user`).
 * - **Three ways in**: a device code (large, a copy button, a live countdown,
 *   status announced to screen readers), pasting the address the browser
 *   ends on (OpenAI accepts only `localhost:1455/1457` redirects for this
 *   client, so a redirect to the broker is impossible), or
 *   `npx subauth connect <url>` on the user's own computer (its one-time code
 *   is bound to this session; the session, not the command line, decides the
 *   tenant and user). Every outcome has its own page with what to do next.
 * - **English and German** (`?locale=`, else `Accept-Language`), every string
 *   in one catalogue a language. No external asset, no inline script, a strict
 *   Content-Security-Policy; forms carry a token bound to the cookie.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Consent, Provider, SecureRandom, type TokenSet } from "@subauth/core"
import { Clock, Effect, Either, Option, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import * as Audit from "./Audit.js"
import * as ConnectHandoff from "./ConnectHandoff.js"
import { ConnectSessions, hashSecret, type View as SessionView } from "./ConnectSessions.js"
import { Connections } from "./Connections.js"
import { catalogs, type Locale, LOCALES, localeOf } from "./internal/page/catalog.js"
import { css, js } from "./internal/page/assets.js"
import { moveOn, page, type View } from "./internal/page/render.js"
import { Tenants } from "./Tenants.js"
import { dbFailed, Int } from "./internal/sql.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const COOKIE = "subauth_connect"

/**
 * How long a one-time code for `subauth connect` lasts (renewed while the page shows it).
 *
 * @since 0.1.0
 * @category constants
 */
export const HANDOFF_TTL_MILLIS = 10 * 60_000

const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; " +
    "base-uri 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cache-control": "no-store"
}

const html = (body: string, status = 200) => HttpServerResponse.html(body).pipe(
  HttpServerResponse.setStatus(status),
  HttpServerResponse.setHeaders(PAGE_HEADERS)
)

const digest = (label: string, ...parts: ReadonlyArray<string>) =>
  createHash("sha256").update([label, ...parts].join("\u0000"), "utf8").digest("base64url")

/** The form token of a page session: derived from its cookie, so nothing more is stored. */
const csrfOf = (secret: string) => digest("subauth-connect/csrf", secret)

/** The one-time code for `subauth connect`: derived from the cookie and the session, so a reload shows the same one. */
const handoffOf = (secret: string, sessionId: string) => digest("subauth-connect/handoff", secret, sessionId)

const PageRow = Schema.Struct({ tenant_id: Schema.String, id: Schema.String, locale: Schema.NullOr(Schema.String) })
const HandoffRow = Schema.Struct({ tenant_id: Schema.String, id: Schema.String, user_id: Schema.String, handoff_expires_at: Schema.NullOr(Int) })

/**
 * The page a session's state shows.
 *
 * @since 0.1.0
 * @category constructors
 */
export const viewOf = (
  session: SessionView,
  context: { readonly firstTime: boolean; readonly command: () => string; readonly handoffExpiresAt: number }
): View => {
  switch (session.status) {
    case "pending":
      if (session.consent === "required") return { _tag: "consent", firstTime: context.firstTime }
      switch (session.method) {
        case "page":
          return { _tag: "choose" }
        case "device":
          return Option.match(session.device, {
            onNone: () => ({ _tag: "failed" }),
            onSome: (device) => ({ _tag: "device", userCode: device.userCode, verificationUri: device.verificationUri, expiresAt: session.expiresAt })
          })
        case "paste":
          return Option.match(session.paste, {
            onNone: () => ({ _tag: "failed" }),
            onSome: (paste) => ({ _tag: "paste", authorizeUrl: paste.authorizeUrl, redirectUri: paste.redirectUri })
          })
        case "cli":
          return { _tag: "cli", command: context.command(), expiresAt: context.handoffExpiresAt }
      }
    // falls through (every pending case returned)
    case "connected":
      return { _tag: "connected", returnUrl: Option.getOrUndefined(session.returnUrl) }
    case "expired":
      return { _tag: "expired" }
    case "denied":
      return { _tag: "denied" }
    case "failed":
      return Option.match(session.reason, {
        onNone: () => ({ _tag: "failed" }),
        onSome: (reason) =>
          reason === "device_login_disabled"
            ? { _tag: "disabled" }
            : reason === "different_account"
            ? { _tag: "different_account" }
            : { _tag: "failed" }
      })
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The address users reach the broker at; default: the address of the page request. */
  readonly publicUrl?: string
}

/**
 * The page's routes, added to the broker's HTTP router.
 *
 * @since 0.1.0
 * @category layers
 */
export const routes = (options: Options = {}) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function*() {
      const sessions = yield* ConnectSessions
      const connections = yield* Connections
      const tenants = yield* Tenants
      const provider = yield* Provider.Provider
      const sql = yield* SqlClient.SqlClient
      const random = yield* SecureRandom.SecureRandom

      const baseOf = (request: HttpServerRequest.HttpServerRequest) =>
        (options.publicUrl ?? `http://${request.headers["host"] ?? "127.0.0.1"}`).replace(/\/+$/, "")

      const asked = (request: HttpServerRequest.HttpServerRequest) =>
        LOCALES.find((locale) => locale === new URL(request.url, "http://page").searchParams.get("locale"))

      const localeFor = (request: HttpServerRequest.HttpServerRequest, stored: string | null): Locale =>
        localeOf(asked(request) ?? stored, request.headers["accept-language"])

      // The page session of a request: its cookie's session, if any.
      const current = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function*() {
          const secret = request.cookies[COOKIE]
          if (secret === undefined || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return Option.none()
          const rows = yield* sql`SELECT tenant_id, id, locale FROM connect_sessions WHERE page_hash = ${hashSecret(secret)}`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(PageRow))),
            Effect.mapError(dbFailed("finding the page's session"))
          )
          return Option.map(Option.fromNullable(rows[0]), (row) => ({ ...row, secret }))
        })

      const render = (request: HttpServerRequest.HttpServerRequest, error?: string) =>
        Effect.gen(function*() {
          const found = yield* current(request)
          const now = yield* Clock.currentTimeMillis
          if (Option.isNone(found)) return { locale: localeFor(request, null), view: { _tag: "gone" } as View, csrf: "", now }
          const { secret, tenant_id, id } = found.value
          const locale = localeFor(request, found.value.locale)
          if (asked(request) !== undefined && locale !== found.value.locale) {
            // `?locale=` (the page's language links) stays chosen for the rest of the sign-in.
            yield* sql`UPDATE connect_sessions SET locale = ${locale} WHERE id = ${id}`.pipe(Effect.mapError(dbFailed("keeping the language")))
          }
          const session = yield* sessions.get(tenant_id, id)
          // The disclaimer again when the user never accepted, or accepted other terms.
          const firstTime = Option.match(yield* connections.consentOf(tenant_id, session.userId), {
            onNone: () => true,
            onSome: (record) => record.termsVersion !== Consent.VERSION
          })
          let handoffExpiresAt = now + HANDOFF_TTL_MILLIS
          if (session.status === "pending" && session.method === "cli") {
            // The code the page shows stays valid while the page is open.
            yield* sql`UPDATE connect_sessions SET handoff_hash = ${hashSecret(handoffOf(secret, id))}, handoff_expires_at = ${handoffExpiresAt}
              WHERE id = ${id} AND status = 'pending' AND method = 'cli'`.pipe(Effect.mapError(dbFailed("renewing the code")))
          } else {
            handoffExpiresAt = now
          }
          const command = () => `npx subauth connect ${baseOf(request)}/connect/cli/${handoffOf(secret, id)}`
          const base = viewOf(session, { firstTime, command, handoffExpiresAt })
          const view: View = base._tag === "paste" && error !== undefined ? { ...base, error } : base
          return { locale, view, csrf: csrfOf(secret), now }
        })

      const show = (status = 200, error?: string) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          Effect.map(render(request, error), ({ csrf, locale, now, view }) =>
            html(page(locale, view, csrf, now), view._tag === "gone" ? 410 : status)))

      // A form post: from this page (same origin, the cookie's token), else refused.
      const formOf = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const site = request.headers["sec-fetch-site"]
        const origin = request.headers["origin"]
        const found = yield* current(request)
        const params = yield* Effect.orElseSucceed(request.urlParamsBody, () => [] as ReadonlyArray<readonly [string, string]>)
        const field = (name: string) => params.find(([k]) => k === name)?.[1]
        const sameSite = (site === undefined || site === "same-origin") &&
          (origin === undefined || origin === baseOf(request) || origin === "null")
        if (Option.isNone(found) || !sameSite || field("csrf") !== csrfOf(found.value.secret)) return Option.none()
        return Option.some({ ...found.value, field })
      })

      const afterPost = HttpServerResponse.redirect("/connect", { status: 303, headers: PAGE_HEADERS })
      const refused = html(page("en", { _tag: "gone" }, "", 0), 403)

      const asUser = <A, E, R>(effect: Effect.Effect<A, E, R>) => Audit.withActor({ actor: "user" })(effect)

      // A page route's failures: a refused step shows where the sign-in stands; the database or the keys failing, a page saying so.
      const pageRoute = <E extends { readonly _tag: string }, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
        effect.pipe(
          Effect.catchAll((error) =>
            error._tag === "BrokerError"
              ? Effect.succeed(afterPost)
              : Effect.zipRight(
                Effect.logError(`the connect page failed: ${error._tag}`),
                Effect.succeed(html(page("en", { _tag: "failed" }, "", 0), 503))
              )
          )
        )

      // --- routes -------------------------------------------------------------------------------

      yield* router.get("/connect/assets/page.css", Effect.succeed(
        HttpServerResponse.text(css, { contentType: "text/css; charset=utf-8", headers: { "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" } })
      ))
      yield* router.get("/connect/assets/page.js", Effect.succeed(
        HttpServerResponse.text(js, { contentType: "text/javascript; charset=utf-8", headers: { "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" } })
      ))

      // The single-use link: its token becomes the page's cookie, and the page moves on without it.
      yield* router.get("/connect/l/:token", pageRoute(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const token = (yield* HttpRouter.params).token ?? ""
        const now = yield* Clock.currentTimeMillis
        const secret = Buffer.from(yield* random.bytes(32)).toString("base64url")
        const opened = yield* sql`UPDATE connect_sessions SET link_hash = NULL, page_hash = ${hashSecret(secret)}
          WHERE link_hash = ${hashSecret(token)} AND link_expires_at > ${now} AND status = 'pending'
          RETURNING tenant_id, id, locale, expires_at`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.extend(PageRow, Schema.Struct({ expires_at: Int }))))),
          Effect.mapError(dbFailed("opening the link"))
        )
        const row = opened[0]
        const locale = localeFor(request, row?.locale ?? null)
        if (row === undefined) return html(page(locale, { _tag: "link_used" }, "", now), 410)
        const secure = baseOf(request).startsWith("https:")
        return yield* html(moveOn(locale)).pipe(
          HttpServerResponse.setCookie(COOKIE, secret, {
            httpOnly: true,
            sameSite: "strict",
            path: "/connect",
            secure,
            maxAge: `${Math.max(60, Math.round((row.expires_at - now) / 1000) + 3600)} seconds`
          })
        )
      })))

      yield* router.get("/connect", pageRoute(show()))

      yield* router.get("/connect/api/state", pageRoute(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const { view } = yield* render(request)
        return HttpServerResponse.unsafeJson({ view: view._tag }, { headers: { "cache-control": "no-store" } })
      })))

      yield* router.post("/connect/accept", pageRoute(Effect.gen(function*() {
        const form = yield* formOf
        if (Option.isNone(form)) return refused
        const { id, locale, tenant_id } = form.value
        const request = yield* HttpServerRequest.HttpServerRequest
        const t = catalogs[localeFor(request, locale)]
        // The hash of what this user was shown, in their language.
        const shown = createHash("sha256").update(`${t.notice}\n${t.disclaimer.join("\n")}`, "utf8").digest("base64url")
        yield* asUser(sessions.consent(tenant_id, id, "user", shown))
        return afterPost
      })))

      yield* router.post("/connect/method", pageRoute(Effect.gen(function*() {
        const form = yield* formOf
        if (Option.isNone(form)) return refused
        const method = form.value.field("method")
        if (method !== "device" && method !== "paste" && method !== "cli") return yield* show(400)
        yield* asUser(sessions.choose(form.value.tenant_id, form.value.id, method))
        return afterPost
      })))

      yield* router.post("/connect/restart", pageRoute(Effect.gen(function*() {
        const form = yield* formOf
        if (Option.isNone(form)) return refused
        const asked = form.value.field("method")
        const method = asked === "device" || asked === "paste" ? asked : "page"
        yield* asUser(sessions.restart(form.value.tenant_id, form.value.id, method))
        return afterPost
      })))

      yield* router.post("/connect/paste", pageRoute(Effect.gen(function*() {
        const form = yield* formOf
        if (Option.isNone(form)) return refused
        const result = yield* Effect.either(asUser(sessions.submitRedirect(form.value.tenant_id, form.value.id, form.value.field("url") ?? "")))
        if (Either.isLeft(result) && result.left._tag === "BrokerError") {
          // Said in the page's language: what was wrong with the address, or that the sign-in server did not answer.
          const t = catalogs[localeFor(yield* HttpServerRequest.HttpServerRequest, form.value.locale)]
          if (result.left.code === "invalid_request") return yield* show(400, t.pasteWrongAddress)
          if (result.left.code === "issuer_unavailable" || result.left.code === "session_not_pending") return yield* show(503, t.pasteTryAgain)
        }
        if (Either.isLeft(result)) return yield* Effect.fail(result.left)
        return afterPost
      })))

      // --- subauth connect ----------------------------------------------------------------------

      const byHandoff = (token: string) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql`SELECT tenant_id, id, user_id, handoff_expires_at FROM connect_sessions
            WHERE handoff_hash = ${hashSecret(token)} AND status = 'pending' AND method = 'cli'`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(HandoffRow))),
            Effect.mapError(dbFailed("finding the code"))
          )
          const row = rows[0]
          return row !== undefined && (row.handoff_expires_at ?? 0) > now ? Option.some(row) : Option.none()
        })

      const handoffGone = HttpServerResponse.unsafeJson({
        status: 410,
        error: { code: "session_not_pending", message: "this code was used, has expired, or its sign-in has ended; reload the page for a new command" }
      }, { status: 410 })

      yield* router.get("/connect/cli/:token", Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const found = yield* byHandoff(token)
        if (Option.isNone(found)) return handoffGone
        const tenant = yield* tenants.get(found.value.tenant_id)
        const info: ConnectHandoff.Info = {
          app: Option.match(tenant, { onNone: () => null, onSome: (t) => t.name }),
          user_id: found.value.user_id,
          issuer: provider.issuer,
          client_id: provider.clientId,
          expires_at: new Date(found.value.handoff_expires_at ?? 0).toISOString()
        }
        return HttpServerResponse.unsafeJson(info, { headers: { "cache-control": "no-store" } })
      }))

      yield* router.post("/connect/cli/:token", Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const body = yield* Effect.either(HttpServerRequest.schemaBodyJson(ConnectHandoff.Tokens))
        if (Either.isLeft(body)) {
          return HttpServerResponse.unsafeJson({ status: 400, error: { code: "invalid_request", message: "the body must hold the sign-in's tokens" } }, {
            status: 400
          })
        }
        // The code is spent by the first try that reaches here, whatever its outcome.
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* sql`UPDATE connect_sessions SET handoff_hash = NULL
          WHERE handoff_hash = ${hashSecret(token)} AND handoff_expires_at > ${now} AND status = 'pending' AND method = 'cli'
          RETURNING tenant_id, id`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ tenant_id: Schema.String, id: Schema.String })))),
          Effect.mapError(dbFailed("claiming the code"))
        )
        const row = claimed[0]
        if (row === undefined) return handoffGone
        const tokens = body.right
        const response: TokenSet.TokenResponse = {
          access_token: Redacted.make(tokens.access_token),
          ...(tokens.refresh_token !== undefined ? { refresh_token: Redacted.make(tokens.refresh_token) } : {}),
          ...(tokens.id_token !== undefined ? { id_token: Redacted.make(tokens.id_token) } : {}),
          ...(tokens.expires_in !== undefined ? { expires_in: tokens.expires_in } : {})
        }
        const session = yield* Audit.withActor({ actor: "user" })(sessions.complete(row.tenant_id, row.id, { method: "browser", response }))
        const result: ConnectHandoff.Result = {
          status: session.status,
          reason: Option.getOrNull(session.reason),
          message: Option.getOrNull(session.description)
        }
        return HttpServerResponse.unsafeJson(result, { status: session.status === "connected" ? 200 : 409 })
      }))
    })
  )
