/**
 * The connect page at the HTTP level, on both engines: the single-use link
 * (replayed or late: 410), the cookie's flags and the page's security
 * headers, forms refused without the cookie's token or from another site,
 * the return address allow-list (no open redirect), consent that only the
 * user gives on the page, a session id that keeps answering after the user
 * starts over, and the `subauth connect` code (single-use, bound to its
 * session). The browser tests (connect-page.test.ts) cover what a person sees.
 */
import { assert, it } from "@effect/vitest"
import { FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect, Option, Redacted } from "effect"
import * as BrokerServer from "../src/BrokerServer.js"
import * as Tenants from "../src/Tenants.js"
import { brokerLayer, call, tenant } from "./harness.js"
import { type Engine, forEachEngine } from "./support.js"

/** A browser without a browser: follows nothing, keeps the page's cookie. */
const visitor = (base: string) => {
  let cookie: string | undefined
  const request = async (path: string, init: RequestInit & { readonly form?: Record<string, string> } = {}) => {
    const headers = new Headers(init.headers)
    if (cookie !== undefined) headers.set("cookie", cookie)
    let body = init.body
    if (init.form !== undefined) {
      headers.set("content-type", "application/x-www-form-urlencoded")
      body = new URLSearchParams(init.form).toString()
    }
    const response = await fetch(path.startsWith("http") ? path : `${base}${path}`, { ...init, headers, body: body ?? null, redirect: "manual" })
    const set = response.headers.get("set-cookie")
    if (set !== null) cookie = set.split(";")[0]
    return { status: response.status, headers: response.headers, text: await response.text(), setCookie: set }
  }
  return { request, cookie: () => cookie }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? ""

forEachEngine("connect page over HTTP", (engine: Engine) => {
  const setup = Effect.gen(function*() {
    const { id, key } = yield* tenant()
    yield* Effect.flatMap(Tenants.Tenants, (tenants) => tenants.addReturnUrl(id, "https://app.example/back"))
    const { url } = yield* BrokerServer.BrokerServer
    return { key, url }
  })

  const create = (key: Redacted.Redacted<string>, body: Record<string, unknown>) =>
    call("POST", "/v1/connect-sessions", { key, body })

  it.live("the link works once: the cookie is HttpOnly, SameSite=Strict, Path=/connect; a replay is 410; the page sends no referrer and allows no script but its own", () =>
    Effect.gen(function*() {
      const { key, url } = yield* setup
      const created = yield* create(key, { user_id: "u1" })
      assert.strictEqual(created.status, 201, created.text)
      const browser = visitor(url)
      const opened = yield* Effect.promise(() => browser.request(created.body.connect_url))
      assert.strictEqual(opened.status, 200)
      assert.match(opened.setCookie ?? "", /^subauth_connect=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/connect; HttpOnly; SameSite=Strict$/)
      assert.include(opened.text, `<meta http-equiv="refresh" content="0;url=/connect">`)
      const page = yield* Effect.promise(() => browser.request("/connect"))
      assert.strictEqual(page.status, 200)
      assert.include(page.text, "Before you sign in")
      assert.strictEqual(page.headers.get("referrer-policy"), "no-referrer")
      assert.strictEqual(page.headers.get("x-frame-options"), "DENY")
      assert.strictEqual(page.headers.get("cache-control"), "no-store")
      const csp = page.headers.get("content-security-policy") ?? ""
      for (const directive of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) assert.include(csp, directive)
      assert.notInclude(page.text, "<script>")
      assert.notInclude(page.text, " style=")

      const replay = yield* Effect.promise(() => visitor(url).request(created.body.connect_url))
      assert.strictEqual(replay.status, 410)
      assert.include(replay.text, "This link has been used")
      assert.isNull(replay.setCookie)
      // A made-up link, and no cookie at all.
      assert.strictEqual((yield* Effect.promise(() => visitor(url).request(`/connect/l/${"A".repeat(43)}`))).status, 410)
      assert.strictEqual((yield* Effect.promise(() => visitor(url).request("/connect"))).status, 410)
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("a link used after it expired is refused (410) and gives no cookie", () =>
    Effect.gen(function*() {
      const { key, url } = yield* setup
      const created = yield* create(key, { user_id: "late" })
      yield* Effect.sleep("1500 millis")
      const late = yield* Effect.promise(() => visitor(url).request(created.body.connect_url))
      assert.strictEqual(late.status, 410)
      assert.isNull(late.setCookie)
      assert.include(late.text, "This link has been used")
    }).pipe(Effect.provide(brokerLayer(engine, { broker: { sessions: { tick: Duration.millis(100), ttl: Duration.seconds(1) } } }))))

  it.live("forms are refused without the page's token, from another site or another origin; with them the step is taken", () =>
    Effect.gen(function*() {
      const { key, url } = yield* setup
      const created = yield* create(key, { user_id: "u2" })
      const browser = visitor(url)
      yield* Effect.promise(() => browser.request(created.body.connect_url))
      const csrf = csrfOf((yield* Effect.promise(() => browser.request("/connect"))).text)
      assert.match(csrf, /^[A-Za-z0-9_-]{43}$/)
      const attempts: ReadonlyArray<readonly [string, Record<string, string>, Record<string, string>]> = [
        ["no token", {}, {}],
        ["a wrong token", { csrf: "x".repeat(43) }, {}],
        ["another site", { csrf }, { "sec-fetch-site": "cross-site" }],
        ["another origin", { csrf }, { origin: "https://evil.example" }]
      ]
      for (const [what, form, headers] of attempts) {
        const refused = yield* Effect.promise(() => browser.request("/connect/accept", { method: "POST", form, headers }))
        assert.strictEqual(refused.status, 403, what)
      }
      // Without the cookie (another browser) the token alone does nothing.
      const stranger = yield* Effect.promise(() => visitor(url).request("/connect/accept", { method: "POST", form: { csrf } }))
      assert.strictEqual(stranger.status, 403)
      assert.strictEqual((yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })).body.consent, "required")

      const accepted = yield* Effect.promise(() =>
        browser.request("/connect/accept", { method: "POST", form: { csrf }, headers: { "sec-fetch-site": "same-origin", origin: url } })
      )
      assert.strictEqual(accepted.status, 303)
      assert.strictEqual(accepted.headers.get("location"), "/connect")
      const session = yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })
      assert.strictEqual(session.body.consent, "given")
      const connection = yield* call("GET", "/v1/users/u2/connection", { key })
      assert.strictEqual(connection.body.status, "none")
      const audit = yield* call("GET", "/v1/audit?user_id=u2", { key })
      const consent = audit.body.events.find((e: { event: string }) => e.event === "consent.recorded")
      assert.strictEqual(consent.actor, "user")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("return addresses come only from the tenant's allow-list; the page's consent is the user's; bad locales are refused", () =>
    Effect.gen(function*() {
      const { key } = yield* setup
      for (
        const bad of [
          "https://evil.example/back",
          "https://app.example/backdoor",
          "https://app.example.evil.example/back",
          "http://app.example/back",
          "javascript:alert(1)",
          "https://app.example@evil.example/back",
          "not a url"
        ]
      ) {
        const refused = yield* create(key, { user_id: "u3", return_url: bad })
        assert.strictEqual(refused.status, 400, bad)
        assert.strictEqual(refused.body.error.code, "invalid_request", bad)
      }
      const audit = yield* call("GET", "/v1/audit", { key })
      const added = audit.body.events.find((e: { event: string }) => e.event === "return_url.added")
      assert.deepStrictEqual(added.detail, { prefix: "https://app.example/back" })
      const ok = yield* create(key, { user_id: "u3", return_url: "https://app.example/back/done?x=1" })
      assert.strictEqual(ok.status, 201, ok.text)
      const locale = yield* create(key, { user_id: "u3", locale: "fr" })
      assert.strictEqual(locale.status, 400)
      // The page asks the user: the app cannot accept for them there.
      const preAccepted = yield* create(key, { user_id: "u3", accept_terms: true })
      assert.strictEqual(preAccepted.status, 400)
      assert.include(preAccepted.body.error.message, "connect_url")
      const byApp = yield* call("POST", `/v1/connect-sessions/${ok.body.id}/consent`, { key })
      assert.strictEqual(byApp.status, 400)
      assert.strictEqual((yield* call("GET", `/v1/connect-sessions/${ok.body.id}`, { key })).body.consent, "required")
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("after the user starts over, the app's session id answers with the new session; `subauth connect`'s code works once, for its session", () =>
    Effect.gen(function*() {
      const { key, url } = yield* setup
      const oauth = yield* FakeOAuthServer.FakeOAuthServer
      const created = yield* create(key, { user_id: "u4" })
      const browser = visitor(url)
      yield* Effect.promise(() => browser.request(created.body.connect_url))
      const csrf = csrfOf((yield* Effect.promise(() => browser.request("/connect"))).text)
      const post = (path: string, form: Record<string, string>) => Effect.promise(() => browser.request(path, { method: "POST", form: { csrf, ...form } }))
      assert.strictEqual((yield* post("/connect/accept", {})).status, 303)
      assert.strictEqual((yield* post("/connect/method", { method: "device" })).status, 303)
      assert.strictEqual((yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })).body.method, "device")
      assert.strictEqual((yield* post("/connect/restart", { method: "page" })).status, 303)
      assert.strictEqual((yield* post("/connect/method", { method: "cli" })).status, 303)
      const followed = yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })
      assert.strictEqual(followed.body.status, "pending")
      assert.strictEqual(followed.body.method, "cli")
      assert.notStrictEqual(followed.body.id, created.body.id)

      const page = (yield* Effect.promise(() => browser.request("/connect"))).text
      const handoff = /npx subauth connect ([^\s<"]+)/.exec(page)?.[1] ?? ""
      assert.match(handoff, /\/connect\/cli\/[A-Za-z0-9_-]{43}$/)
      const info = JSON.parse((yield* Effect.promise(() => browser.request(handoff))).text)
      assert.strictEqual(info.user_id, "u4")
      assert.strictEqual(info.issuer, oauth.url)
      // A code made up, or one bound to another session, is not this one.
      assert.strictEqual((yield* Effect.promise(() => visitor(url).request(handoff.replace(/.{5}$/, "AAAAA")))).status, 410)

      const tokens = yield* oauth.issueTokens()
      const body = JSON.stringify({
        access_token: Redacted.value(tokens.accessToken),
        refresh_token: Redacted.value(Option.getOrThrow(tokens.refreshToken)),
        id_token: Redacted.value(Option.getOrThrow(tokens.idToken))
      })
      const send = () => Effect.promise(() => visitor(url).request(handoff, { method: "POST", body, headers: { "content-type": "application/json" } }))
      const bad = yield* Effect.promise(() => visitor(url).request(handoff, { method: "POST", body: "{}", headers: { "content-type": "application/json" } }))
      assert.strictEqual(bad.status, 400)
      const first = yield* send()
      assert.strictEqual(first.status, 200, first.text)
      assert.strictEqual(JSON.parse(first.text).status, "connected")
      assert.strictEqual((yield* send()).status, 410)
      const connected = yield* call("GET", `/v1/connect-sessions/${created.body.id}`, { key })
      assert.strictEqual(connected.body.status, "connected")
      const connection = yield* call("GET", "/v1/users/u4/connection", { key })
      assert.strictEqual(connection.body.status, "connected")
      assert.strictEqual(connection.body.consent.attested_by, "user")
      // No token value is in what the page or the session show.
      const shown = (yield* Effect.promise(() => browser.request("/connect"))).text + JSON.stringify(connected.body)
      for (const secret of [tokens.accessToken, Option.getOrThrow(tokens.refreshToken)]) assert.notInclude(shown, Redacted.value(secret))
    }).pipe(Effect.provide(brokerLayer(engine))))

  it.live("the page speaks the session's language: a wrong address pasted on a German page is refused in German", () =>
    Effect.gen(function*() {
      const { key, url } = yield* setup
      const created = yield* create(key, { user_id: "u5", locale: "de" })
      const browser = visitor(url)
      yield* Effect.promise(() => browser.request(created.body.connect_url))
      const first = yield* Effect.promise(() => browser.request("/connect"))
      assert.include(first.text, `<html lang="de">`)
      const csrf = csrfOf(first.text)
      const post = (path: string, form: Record<string, string>) => Effect.promise(() => browser.request(path, { method: "POST", form: { csrf, ...form } }))
      yield* post("/connect/accept", {})
      yield* post("/connect/method", { method: "paste" })
      const wrong = yield* post("/connect/paste", { url: "http://127.0.0.1:1455/auth/callback?code=x&state=y" })
      assert.strictEqual(wrong.status, 400)
      assert.include(wrong.text, "Das ist nicht die Adresse, auf der diese Anmeldung endete.")
      assert.include(wrong.text, `role="alert"`)
    }).pipe(Effect.provide(brokerLayer(engine))))
})
