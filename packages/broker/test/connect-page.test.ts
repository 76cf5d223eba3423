/**
 * The connect page in real Chromium, against the fake issuer: the whole
 * device-code connect in English and in German, the paste method, the
 * `subauth connect` method's page, every failure state, keyboard only, 320 px
 * wide in dark mode with reduced motion; an axe-core scan of every state (no
 * serious or critical violation) and a screenshot of every state in
 * `packages/broker/test-output/connect-page/`. No request leaves 127.0.0.1:
 * the address OpenAI's sign-in ends on (`127.0.0.1:1455`) and the app's
 * return address are answered inside the browser.
 */
import { FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect, ManagedRuntime, Option, Redacted } from "effect"
import { type Browser, type BrowserContext, type Page } from "playwright-core"
import { afterAll, afterEach, assert, beforeAll, it } from "vitest"
import * as BrokerServer from "../src/BrokerServer.js"
import * as Tenants from "../src/Tenants.js"
import { describeWithBrowser, horizontalOverflow, launch, screenshot, seriousViolations, tabTo } from "./browser.js"
import { brokerLayer, call, tenant } from "./harness.js"

const RETURN_URL = "https://app.example/settings/connected?tab=ai"

describeWithBrowser("the connect page in Chromium", () => {
  const runtime = ManagedRuntime.make(brokerLayer("sqlite", { oauth: { devicePendingPolls: "manual", deviceInterval: "1" } }))
  const run = <A, E>(effect: Effect.Effect<A, E, ManagedRuntime.ManagedRuntime.Context<typeof runtime>>) => runtime.runPromise(effect)
  let browser: Browser
  let key: Redacted.Redacted<string>
  let oauth: FakeOAuthServer.FakeOAuthServer.Service
  let brokerUrl: string
  const contexts: Array<BrowserContext> = []

  beforeAll(async () => {
    browser = await launch()
    const app = await run(tenant("Acme Agents"))
    key = app.key
    await run(Effect.flatMap(Tenants.Tenants, (tenants) => tenants.addReturnUrl(app.id, "https://app.example/settings/")))
    oauth = await run(FakeOAuthServer.FakeOAuthServer)
    brokerUrl = (await run(BrokerServer.BrokerServer)).url
  }, 60_000)

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()))
    await run(Effect.zipRight(oauth.clearFaults, oauth.configure({
      deviceEnabled: true,
      deviceCodeLifetime: Duration.minutes(15),
      account: FakeOAuthServer.defaultAccount
    })))
  })

  afterAll(async () => {
    await browser?.close()
    await runtime.dispose()
  })

  /** A fresh browser profile; the page's errors (a Content-Security-Policy refusal among them) are collected. */
  const open = async (options: Parameters<Browser["newContext"]>[0] = {}) => {
    const context = await browser.newContext(options)
    contexts.push(context)
    // Where OpenAI's sign-in ends (127.0.0.1:1455, which does not load for the user) is recorded; the app is answered in the browser.
    const ended: Array<string> = []
    context.on("request", (request) => {
      if (request.url().startsWith("http://127.0.0.1:1455/auth/callback?")) ended.push(request.url())
    })
    await context.route("https://app.example/**", (route) => route.fulfill({ status: 200, contentType: "text/html", body: "<title>App</title><h1>Back in the app</h1>" }))
    const page = await context.newPage()
    const errors: Array<string> = []
    page.on("console", (message) => {
      // A page answered 400 or 410 on purpose (a wrong address, an ended sign-in) is not an error of the page.
      if (message.type() === "error" && !/^Failed to load resource: .* status of (400|410)/.test(message.text())) errors.push(message.text())
    })
    page.on("pageerror", (error) => errors.push(error.message))
    return { context, page, errors, ended }
  }

  const createSession = async (userId: string, body: Record<string, unknown> = {}) => {
    const created = await run(call("POST", "/v1/connect-sessions", { key, body: { user_id: userId, return_url: RETURN_URL, ...body } }))
    assert.strictEqual(created.status, 201, created.text)
    assert.strictEqual(created.body.method, "page")
    assert.strictEqual(created.body.consent, "required")
    assert.match(created.body.connect_url, new RegExp(`^${brokerUrl}/connect/l/[A-Za-z0-9_-]{43}$`))
    return created.body as { id: string; connect_url: string }
  }

  /** The state's screenshot, and its accessibility scan. */
  const check = async (page: Page, name: string) => {
    await screenshot(page, name)
    const violations = await seriousViolations(page)
    assert.deepStrictEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 2)}`)
  }

  const heading = (page: Page) => page.locator("h1").innerText()

  /** Waits for the page to show `title` (the page turns by itself, within a few seconds). */
  const shows = (page: Page, title: string) => page.locator("h1", { hasText: title }).waitFor({ timeout: 30_000 })

  const openLink = async (page: Page, url: string) => {
    await page.goto(url)
    await page.waitForURL(`${brokerUrl}/connect`)
  }

  it("connects by device code in English: link → cookie, notice, disclaimer, code, new tab at the issuer, connected by itself, back to the app", async () => {
    const { context, errors, page } = await open({ locale: "en-US" })
    const session = await createSession("alice")
    await openLink(page, session.connect_url)
    // The link's token left the address bar; the page's session is an HttpOnly, SameSite=Strict cookie.
    assert.strictEqual(page.url(), `${brokerUrl}/connect`)
    const [cookie] = await context.cookies()
    assert.strictEqual(cookie?.name, "subauth_connect")
    assert.isTrue(cookie?.httpOnly)
    assert.strictEqual(cookie?.sameSite, "Strict")
    assert.strictEqual(cookie?.path, "/connect")
    assert.notInclude(session.connect_url, cookie?.value ?? "-")

    assert.strictEqual(await heading(page), "Before you sign in")
    assert.strictEqual(await page.getAttribute("html", "lang"), "en")
    assert.isTrue(await page.getByRole("heading", { name: "Please read this once" }).isVisible())
    assert.strictEqual(await page.getByRole("link", { name: "OpenAI Terms of Use" }).getAttribute("target"), "_blank")
    await check(page, "01-consent-first-time-en")

    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await shows(page, "How do you want to sign in?")
    await check(page, "02-choose-en")

    await page.getByRole("button", { name: "With a code" }).click()
    await shows(page, "Enter this code at OpenAI")
    const code = (await page.locator("#code").innerText()).trim()
    assert.match(code, /^FAKE-/)
    assert.match(await page.locator("[data-deadline]").innerText(), /^1[45]:\d\d$/)
    await check(page, "03-device-en")

    // The user follows the link (a new tab), signs in at the issuer and types the code.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }))
    const [issuerTab] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Open the code page" }).click()])
    await issuerTab.waitForLoadState()
    assert.strictEqual(issuerTab.url(), `${oauth.url}/codex/device`)
    await issuerTab.fill("input[name=user_code]", code)
    await issuerTab.click("button")
    await issuerTab.getByText("Device approved").waitFor()
    await issuerTab.close()

    // The page turns by itself, in place: focus on the new heading, and the change announced.
    await shows(page, "You are signed in")
    assert.isTrue(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true))
    assert.strictEqual(await page.evaluate(() => document.activeElement?.tagName), "H1")
    await page.locator("#live", { hasText: "You are signed in" }).waitFor()
    assert.strictEqual(await page.getByRole("link", { name: "Back to the app" }).getAttribute("href"), RETURN_URL)
    await check(page, "04-connected-en")

    await page.getByRole("link", { name: "Back to the app" }).click()
    await page.waitForURL(RETURN_URL)

    // The consent record is the user's, from this page, with the terms version and the text shown.
    const connection = await run(call("GET", "/v1/users/alice/connection", { key }))
    assert.strictEqual(connection.body.status, "connected", connection.text)
    assert.strictEqual(connection.body.consent.attested_by, "user")
    assert.match(connection.body.consent.text_sha256, /^[A-Za-z0-9_-]{43}$/)
    const done = await run(call("GET", `/v1/connect-sessions/${session.id}`, { key }))
    assert.strictEqual(done.body.status, "connected")
    const audit = await run(call("GET", "/v1/audit?user_id=alice", { key }))
    const consent = audit.body.events.find((e: { event: string }) => e.event === "consent.recorded")
    assert.strictEqual(consent.actor, "user")
    assert.deepStrictEqual(errors, [])
  })

  it("connects by device code in German (Accept-Language), the disclaimer only the first time, ?locale= switches and stays", async () => {
    const { errors, page } = await open({ locale: "de-DE" })
    const first = await createSession("bertha")
    await openLink(page, first.connect_url)
    assert.strictEqual(await page.getAttribute("html", "lang"), "de")
    assert.strictEqual(await heading(page), "Bevor Sie sich anmelden")
    assert.isTrue(await page.getByRole("heading", { name: "Bitte einmal lesen" }).isVisible())
    await check(page, "05-consent-first-time-de")
    await page.getByRole("button", { name: "Weiter – ich stimme zu" }).click()
    await shows(page, "Wie möchten Sie sich anmelden?")
    await check(page, "06-choose-de")
    await page.getByRole("button", { name: "Mit einem Code" }).click()
    await shows(page, "Geben Sie diesen Code bei OpenAI ein")
    await check(page, "07-device-de")
    const code = (await page.locator("#code").innerText()).trim()
    const [issuerTab] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Code-Seite öffnen" }).click()])
    await issuerTab.fill("input[name=user_code]", code)
    await issuerTab.click("button")
    await issuerTab.getByText("Device approved").waitFor()
    await shows(page, "Sie sind angemeldet")
    assert.isTrue(await page.getByRole("link", { name: "Zurück zur App" }).isVisible())
    await check(page, "08-connected-de")

    // Again for the same user: the short notice, not the disclaimer. The language link switches, and the choice stays.
    const again = await createSession("bertha")
    await openLink(page, again.connect_url)
    assert.strictEqual(await heading(page), "Bevor Sie sich anmelden")
    assert.strictEqual(await page.getByRole("heading", { name: "Bitte einmal lesen" }).count(), 0)
    await check(page, "09-consent-again-de")
    await page.getByRole("link", { name: "EN", exact: true }).click()
    await shows(page, "Before you sign in")
    assert.strictEqual(await page.getAttribute("html", "lang"), "en")
    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await shows(page, "How do you want to sign in?")
    assert.deepStrictEqual(errors, [])
  })

  it("connects by pasting the address: says where the browser ends, refuses a wrong address in place, then connects", async () => {
    const { ended, errors, page } = await open()
    const session = await createSession("carl")
    await openLink(page, session.connect_url)
    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await page.getByRole("button", { name: "Paste the address" }).click()
    await shows(page, "Sign in and paste the address")
    assert.include(await page.locator("main").innerText(), "starts with http://127.0.0.1:1455/auth/callback.")
    await check(page, "10-paste")

    await page.getByLabel("The address the sign-in ended on").fill("http://localhost:1455/auth/callback?code=abc&state=not-this-one")
    await page.getByRole("button", { name: "Finish signing in" }).click()
    await page.getByRole("alert").waitFor()
    assert.include(await page.getByRole("alert").innerText(), "That is not the address this sign-in ended on")
    assert.strictEqual(await page.getByLabel("The address the sign-in ended on").getAttribute("aria-invalid"), "true")
    await check(page, "11-paste-wrong-address")

    const [issuerTab] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Open the sign-in page" }).click()])
    // The issuer signs the user in and sends the browser to localhost:1455, which does not load: the address to paste.
    for (let i = 0; i < 100 && ended.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.isAbove(ended.length, 0)
    await issuerTab.close()
    await page.getByLabel("The address the sign-in ended on").fill(ended[0]!)
    await page.getByRole("button", { name: "Finish signing in" }).click()
    await shows(page, "You are signed in")
    assert.strictEqual((await run(call("GET", "/v1/users/carl/connection", { key }))).body.status, "connected")
    assert.deepStrictEqual(errors, [])
  })

  it("the `subauth connect` method: the one-line command, and the page turns to connected when the command hands over a sign-in", async () => {
    const { errors, page } = await open()
    const session = await createSession("cleo")
    await openLink(page, session.connect_url)
    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await page.getByRole("button", { name: "With one command on your computer" }).click()
    await shows(page, "Run this on your computer")
    const command = (await page.locator("#command").innerText()).trim()
    const match = /^npx subauth connect (http:\/\/127\.0\.0\.1:\d+\/connect\/cli\/[A-Za-z0-9_-]{43})$/.exec(command)
    assert.isNotNull(match, command)
    await check(page, "12-command")

    // What `subauth connect` does once the browser sign-in on the user's computer is done (the command itself is tested in the CLI package).
    const handoff = match![1]!
    const info = await (await fetch(handoff)).json() as { user_id: string; issuer: string; app: string }
    assert.deepStrictEqual({ user: info.user_id, issuer: info.issuer, app: info.app }, { user: "cleo", issuer: oauth.url, app: "Acme Agents" })
    const tokens = await run(oauth.issueTokens())
    const body = JSON.stringify({
      access_token: Redacted.value(tokens.accessToken),
      refresh_token: Redacted.value(Option.getOrThrow(tokens.refreshToken)),
      id_token: Redacted.value(Option.getOrThrow(tokens.idToken)),
      expires_in: 3600
    })
    const handed = await fetch(handoff, { method: "POST", headers: { "content-type": "application/json" }, body })
    assert.strictEqual(handed.status, 200, await handed.text())
    await shows(page, "You are signed in")
    // The code worked once.
    assert.strictEqual((await fetch(handoff, { method: "POST", headers: { "content-type": "application/json" }, body })).status, 410)
    assert.strictEqual((await fetch(handoff)).status, 410)
    assert.deepStrictEqual(errors, [])
  })

  const toDevice = async (page: Page, userId: string) => {
    const session = await createSession(userId)
    await openLink(page, session.connect_url)
    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await page.getByRole("button", { name: "With a code" }).click()
    return session
  }

  it("every way a sign-in ends without a connection has its own state with what to do next", async () => {
    const { errors, page } = await open()

    // The code expires before the user enters it.
    await run(oauth.configure({ deviceCodeLifetime: Duration.seconds(3) }))
    await toDevice(page, "dave")
    await shows(page, "The code expired")
    await check(page, "13-expired")
    await run(oauth.configure({ deviceCodeLifetime: Duration.minutes(15) }))
    await page.getByRole("button", { name: "Start again" }).click()
    await shows(page, "How do you want to sign in?")

    // Declined at the issuer.
    await page.getByRole("button", { name: "With a code" }).click()
    await shows(page, "Enter this code at OpenAI")
    assert.isTrue(await run(oauth.denyDevice((await page.locator("#code").innerText()).trim())))
    await shows(page, "The sign-in was declined")
    await check(page, "14-denied")

    // Device codes switched off for the account: how to switch them on, or paste instead.
    await run(oauth.configure({ deviceEnabled: false }))
    await toDevice(page, "erin")
    await shows(page, "Device codes are switched off for this account")
    assert.include(await page.locator("main").innerText(), "Settings → Security")
    await check(page, "15-device-codes-disabled")
    await page.getByRole("button", { name: "Sign in by pasting the address" }).click()
    await shows(page, "Sign in and paste the address")
    await run(oauth.configure({ deviceEnabled: true }))

    // Another ChatGPT account than the one this user connected before (alice connected the default account).
    await run(oauth.configure({ account: { ...FakeOAuthServer.defaultAccount, accountId: "99999999-2222-4333-8444-555555555555", email: "someone.else@example.com" } }))
    await toDevice(page, "alice")
    await shows(page, "Enter this code at OpenAI")
    assert.isTrue(await run(oauth.approveDevice((await page.locator("#code").innerText()).trim())))
    await shows(page, "That is another ChatGPT account")
    await check(page, "16-different-account")
    await run(oauth.configure({ account: FakeOAuthServer.defaultAccount }))

    // The issuer refuses the code exchange: the sign-in did not work.
    await run(oauth.inject({ endpoint: "token", fault: { _tag: "Status", status: 400, body: { error: "invalid_grant" }, headers: {} } }))
    await toDevice(page, "fred")
    await shows(page, "Enter this code at OpenAI")
    assert.isTrue(await run(oauth.approveDevice((await page.locator("#code").innerText()).trim())))
    await shows(page, "The sign-in did not work")
    await check(page, "17-failed")
    assert.deepStrictEqual(errors, [])

    // Without the page's cookie: the sign-in has ended (410); a link opened twice: used (410).
    const stranger = await open()
    const gone = await stranger.page.goto(`${brokerUrl}/connect`)
    assert.strictEqual(gone?.status(), 410)
    assert.strictEqual(await heading(stranger.page), "This sign-in has ended")
    await check(stranger.page, "18-session-gone")
    const session = await createSession("gina")
    await openLink(page, session.connect_url)
    const replay = await stranger.page.goto(session.connect_url)
    assert.strictEqual(replay?.status(), 410)
    assert.strictEqual(await heading(stranger.page), "This link has been used")
    await check(stranger.page, "19-link-used")
  })

  it("works with the keyboard alone: every step reached with Tab, focus visible, Enter to act, copy announced", async () => {
    const { context, page } = await open()
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: brokerUrl })
    const session = await createSession("hana")
    await openLink(page, session.connect_url)
    const step = async (name: RegExp) => {
      const { outline } = await tabTo(page, name)
      assert.notMatch(outline, /^none/, `focus on ${name} is not visible`)
      await page.keyboard.press("Enter")
    }
    await step(/^Continue – I accept$/)
    await shows(page, "How do you want to sign in?")
    await step(/^With a code$/)
    await shows(page, "Enter this code at OpenAI")
    const code = (await page.locator("#code").innerText()).trim()
    await step(/^Copy the code$/)
    await page.locator("#live", { hasText: "Copied" }).waitFor()
    assert.strictEqual(await page.evaluate(() => navigator.clipboard.readText()), code)
    assert.isTrue(await run(oauth.approveDevice(code)))
    await shows(page, "You are signed in")
    await step(/^Back to the app$/)
    await page.waitForURL(RETURN_URL)
    // The skip link is the first stop.
    await page.goto(`${brokerUrl}/connect`)
    await page.keyboard.press("Tab")
    assert.strictEqual(await page.evaluate(() => document.activeElement?.textContent), "Skip to content")
  })

  it("at 320 px wide, dark, reduced motion: nothing scrolls sideways, dark colours, no spinning", async () => {
    const { page } = await open({ viewport: { width: 320, height: 640 }, colorScheme: "dark", reducedMotion: "reduce" })
    const session = await createSession("ines")
    await openLink(page, session.connect_url)
    const narrow = async (name: string) => {
      assert.strictEqual(await horizontalOverflow(page), 0, `${name} scrolls sideways at 320 px`)
      await check(page, name)
    }
    await narrow("20-consent-320-dark")
    assert.strictEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(19, 19, 22)")
    await page.getByRole("button", { name: "Continue – I accept" }).click()
    await shows(page, "How do you want to sign in?")
    await narrow("21-choose-320-dark")
    await page.getByRole("button", { name: "With a code" }).click()
    await shows(page, "Enter this code at OpenAI")
    await narrow("22-device-320-dark")
    assert.strictEqual(await page.evaluate(() => getComputedStyle(document.querySelector(".waiting")!, "::after").animationName), "none")
    await page.getByRole("button", { name: "Use another way" }).click()
    await page.getByRole("button", { name: "With one command on your computer" }).click()
    await shows(page, "Run this on your computer")
    await narrow("23-command-320-dark")
    await page.getByRole("button", { name: "Use another way" }).click()
    await page.getByRole("button", { name: "Paste the address" }).click()
    await shows(page, "Sign in and paste the address")
    await narrow("24-paste-320-dark")
  })
})
