import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore } from "@effect/platform"
import { DateTime, Effect, Either, Layer, Option } from "effect"
import * as Consent from "../src/Consent.js"
import { authorizeUrl, isWrongState, validateCallback } from "../src/internal/authorize.js"
import { escapeHtml } from "../src/internal/pages.js"
import { fromAuthorizationError } from "../src/LoginError.js"
import * as LoginUI from "../src/LoginUI.js"
import * as PasteLogin from "../src/PasteLogin.js"
import * as Provider from "../src/Provider.js"
import { codexFixture } from "./fixtures.js"

describe("authorize URL", () => {
  it("has the Codex CLI's parameters, values and order", () => {
    const fixture = codexFixture("browser-authorize-url.json")
    const url = new URL(
      authorizeUrl(Provider.openai, {
        redirectUri: fixture.params.redirect_uri,
        challenge: fixture.params.code_challenge,
        state: fixture.params.state
      })
    )
    assert.strictEqual(url.origin + url.pathname, `${fixture.origin}${fixture.path}`)
    assert.deepStrictEqual([...url.searchParams.keys()], fixture.param_order)
    assert.deepStrictEqual(Object.fromEntries(url.searchParams), fixture.params)
    // Spaces percent-encoded, as codex-rs does.
    assert.include(url.search, "scope=openid%20profile%20email")
  })
})

describe("parsePastedRedirect", () => {
  const state = "st-123"
  const ok = (input: string) => assert.deepStrictEqual(PasteLogin.parsePastedRedirect(input, state), Either.right("the-code"))
  const reason = (input: string) => {
    const result = PasteLogin.parsePastedRedirect(input, state)
    return Either.isLeft(result) ? result.left.reason : "accepted"
  }

  it("accepts the whole redirect URL, a query string, or code#state", () => {
    ok("http://127.0.0.1:1455/auth/callback?code=the-code&scope=openid&state=st-123")
    ok("  http://localhost:1455/auth/callback?code=the-code&state=st-123 \n")
    ok("code=the-code&state=st-123")
    ok("?code=the-code&state=st-123")
    ok("the-code#st-123")
  })

  it("verifies the state", () => {
    assert.strictEqual(reason("http://127.0.0.1:1455/auth/callback?code=the-code&state=other"), "StateMismatch")
    assert.strictEqual(reason("the-code#other"), "StateMismatch")
    assert.strictEqual(reason("code=the-code"), "InvalidInput")
    assert.strictEqual(reason("the-code"), "InvalidInput")
  })

  it("reports errors, missing codes, oversized and empty input", () => {
    assert.strictEqual(
      reason("http://127.0.0.1:1455/auth/callback?error=access_denied&error_description=missing_codex_entitlement&state=st-123"),
      "MissingCodexEntitlement"
    )
    assert.strictEqual(reason("http://127.0.0.1:1455/auth/callback?state=st-123"), "MissingCode")
    assert.strictEqual(reason(`code=${"x".repeat(9000)}&state=st-123`), "InvalidInput")
    assert.strictEqual(reason("   "), "InvalidInput")
    assert.strictEqual(reason("http://[bad"), "InvalidInput")
  })
})

describe("validateCallback", () => {
  const state = "st-123"
  const check = (query: string) => validateCallback(new URLSearchParams(query), state)
  const reason = (query: string) => {
    const result = check(query)
    return Either.isLeft(result) ? result.left.reason : "accepted"
  }

  it("gives the code when the state is this login's", () => {
    assert.deepStrictEqual(check("code=the-code&scope=openid&state=st-123"), Either.right("the-code"))
  })

  it("checks the state before anything else: another login's error or code is not believed", () => {
    assert.strictEqual(reason("code=the-code&state=other"), "StateMismatch")
    assert.strictEqual(reason("error=access_denied&state=other"), "StateMismatch")
    assert.strictEqual(reason("code=the-code"), "InvalidInput")
    assert.strictEqual(reason("code=the-code&state="), "InvalidInput")
    for (const query of ["code=x&state=other", "code=x", "error=access_denied"]) {
      const result = check(query)
      assert.isTrue(Either.isLeft(result) && isWrongState(result.left), query)
    }
  })

  it("then error=, then the code", () => {
    assert.strictEqual(reason("error=access_denied&error_description=missing_codex_entitlement&state=st-123"), "MissingCodexEntitlement")
    assert.strictEqual(reason("error=server_error&code=the-code&state=st-123"), "AuthorizationDenied")
    assert.strictEqual(reason("state=st-123"), "MissingCode")
    assert.strictEqual(reason("code=&state=st-123"), "MissingCode")
    const denied = check("error=server_error&state=st-123")
    assert.isTrue(Either.isLeft(denied) && !isWrongState(denied.left))
  })

  it("names where the parameters came from", () => {
    const result = validateCallback(new URLSearchParams("state=st-123"), state, "the pasted address")
    assert.isTrue(Either.isLeft(result) && result.left.message.startsWith("the pasted address has no authorization code"))
  })
})

describe("authorization errors and pages", () => {
  it("names the missing Codex entitlement, and shows other errors as sent", () => {
    const entitlement = fromAuthorizationError("access_denied", "User is MISSING_CODEX_ENTITLEMENT")
    assert.strictEqual(entitlement.reason, "MissingCodexEntitlement")
    assert.include(entitlement.message, "Codex is not enabled for your workspace")
    const other = fromAuthorizationError("access_denied", "no thanks")
    assert.strictEqual(other.reason, "AuthorizationDenied")
    assert.include(other.message, "no thanks")
  })

  it("escapes HTML", () => {
    assert.strictEqual(escapeHtml(`<script>alert("x")</script>&'`), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;")
  })
})

describe("LoginUI.format", () => {
  it("shows the device code, the time left and the warning", () => {
    const now = DateTime.unsafeMake(0)
    const text = LoginUI.format({
      _tag: "DeviceCode",
      verificationUrl: "https://auth.openai.com/codex/device",
      userCode: "ABCD-EFGH",
      expiresAt: DateTime.unsafeMake(15 * 60_000)
    }, now)
    assert.include(text, "https://auth.openai.com/codex/device")
    assert.include(text, "ABCD-EFGH")
    assert.include(text, "15:00")
    assert.include(text, "never share this code")
    assert.include(LoginUI.format({ _tag: "Waiting", what: "approval", deadline: DateTime.unsafeMake(61_000) }, now), "1:01 left")
  })
})

describe("Consent", () => {
  const setup = (ui: { readonly interactive?: boolean; readonly answers?: ReadonlyArray<string> }) =>
    Effect.gen(function*() {
      const test = yield* LoginUI.makeTest(ui)
      const layer = Consent.layer.pipe(Layer.provide(Layer.succeed(LoginUI.LoginUI, test.service)))
      return { test, layer }
    })
  const shown = (events: ReadonlyArray<LoginUI.LoginEvent>) => events.map((e) => e._tag)

  it.effect("first login: notice and disclaimer, then continue = accept, stored as a record", () =>
    Effect.gen(function*() {
      const { layer, test } = yield* setup({ answers: ["y"] })
      const record = yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("default")).pipe(Effect.provide(layer))
      assert.deepStrictEqual(shown(yield* test.events), ["Notice", "Disclaimer"])
      assert.strictEqual(record.how, "prompt")
      assert.strictEqual(record.version, Consent.VERSION)
      assert.strictEqual(record.textSha256, yield* Consent.textSha256)
      assert.lengthOf(yield* test.questions, 1)
      // The next login: the notice only, no question.
      const again = yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("default")).pipe(Effect.provide(layer))
      assert.deepStrictEqual(again, record)
      assert.deepStrictEqual(shown(yield* test.events), ["Notice", "Disclaimer", "Notice"])
      assert.lengthOf(yield* test.questions, 1)
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("anything but yes declines; nothing is stored", () =>
    Effect.gen(function*() {
      const { layer } = yield* setup({ answers: ["", "no"] })
      const consent = Effect.flatMap(Consent.Consent, (c) => Effect.flip(c.ensure("default")))
      assert.strictEqual((yield* consent.pipe(Effect.provide(layer))).reason, "ConsentDeclined")
      assert.strictEqual((yield* consent.pipe(Effect.provide(layer))).reason, "ConsentDeclined")
      assert.isTrue(Option.isNone(yield* Effect.flatMap(Consent.Consent, (c) => c.get("default")).pipe(Effect.provide(layer))))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("without a terminal: ConsentRequired unless acceptTerms; the flag is recorded as such", () =>
    Effect.gen(function*() {
      const { layer, test } = yield* setup({ interactive: false })
      const error = yield* Effect.flatMap(Consent.Consent, (c) => Effect.flip(c.ensure("ci"))).pipe(Effect.provide(layer))
      assert.strictEqual(error.reason, "ConsentRequired")
      assert.include(error.message, "--accept-terms")
      assert.lengthOf(yield* test.questions, 0)
      const record = yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("ci", { acceptTerms: true })).pipe(Effect.provide(layer))
      assert.strictEqual(record.how, "flag")
      // Recorded: later non-interactive logins pass.
      yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("ci")).pipe(Effect.provide(layer))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("verbose shows the disclaimer again; a record of other texts asks again; profiles are separate", () =>
    Effect.gen(function*() {
      const { layer, test } = yield* setup({ answers: ["yes", "y"] })
      yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("a")).pipe(Effect.provide(layer))
      yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("a", { verbose: true })).pipe(Effect.provide(layer))
      assert.deepStrictEqual(shown(yield* test.events), ["Notice", "Disclaimer", "Notice", "Disclaimer"])
      const kv = yield* KeyValueStore.KeyValueStore
      const stored = JSON.parse(Option.getOrThrow(yield* kv.get("consent-a")))
      yield* kv.set("consent-a", JSON.stringify({ ...stored, textSha256: "older-text" }))
      yield* Effect.flatMap(Consent.Consent, (c) => c.ensure("a")).pipe(Effect.provide(layer))
      assert.lengthOf(yield* test.questions, 2)
      assert.isTrue(Option.isNone(yield* Effect.flatMap(Consent.Consent, (c) => c.get("b")).pipe(Effect.provide(layer))))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))
})
