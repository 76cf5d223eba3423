import { assert, describe, it } from "@effect/vitest"
import { Pkce, Provider } from "@subauth/core"
import { Duration, Effect, Fiber, Option, Redacted, TestClock } from "effect"
import * as jose from "jose"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { networkInterfaces } from "node:os"
import * as FakeHttp from "../src/FakeHttp.js"
import * as FakeOAuthServer from "../src/FakeOAuthServer.js"

const CLIENT_ID = Provider.OPENAI_CLIENT_ID
const REDIRECT = "http://127.0.0.1:1455/auth/callback"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

const request = (path: string, init: RequestInit = {}) =>
  Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (server) =>
    Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(`${server.url}${path}`, { redirect: "manual", ...init })
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: response.status, headers: response.headers, text, json }
    }))

const postJson = (path: string, body: unknown) =>
  request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
const postForm = (path: string, fields: Record<string, string>) =>
  request(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString()
  })
const refresh = (refreshToken: string, clientId = CLIENT_ID) =>
  postJson("/oauth/token", {
    client_id: clientId,
    grant_type: "refresh_token",
    refresh_reason: "proactive_expiry",
    refresh_token: refreshToken
  })

const authorizeQuery = (challenge: string, overrides: Record<string, string> = {}) =>
  new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "the-state",
    ...overrides
  }).toString()

/** A code from the auto-approving authorize endpoint, and the verifier that goes with it. */
const authorizeCode = Effect.gen(function*() {
  const verifier = "v".repeat(43) + "erifier-for-tests"
  const answer = yield* request(`/oauth/authorize?${authorizeQuery(yield* Pkce.challengeOf(verifier))}`)
  const location = new URL(answer.headers.get("location")!)
  return { code: location.searchParams.get("code")!, verifier, location }
})

const exchange = (code: string, verifier: string, redirectUri = REDIRECT) =>
  postForm("/oauth/token", { grant_type: "authorization_code", client_id: CLIENT_ID, code, redirect_uri: redirectUri, code_verifier: verifier })

const withServer = (options?: FakeOAuthServer.Options) => Effect.provide(FakeOAuthServer.layer(options))

describe("FakeOAuthServer", () => {
  it.effect("listens on 127.0.0.1 only", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const url = new URL(server.url)
      assert.strictEqual(url.hostname, "127.0.0.1")
      const external = Object.values(networkInterfaces()).flat().find((i) => i?.family === "IPv4" && !i.internal)
      if (external !== undefined) {
        const reached = yield* Effect.async<boolean>((resume) => {
          const socket = connect({ host: external.address, port: Number(url.port) })
          socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
          socket.once("error", () => resume(Effect.succeed(false)))
        })
        assert.isFalse(reached, `reachable on ${external.address}`)
      }
      assert.strictEqual(server.provider.endpoints.token, `${server.url}/oauth/token`)
    }).pipe(withServer()))

  describe("authorize + code exchange", () => {
    it.effect("auto-approve redirects with code and state; the code is exchanged once, with PKCE checked", () =>
      Effect.gen(function*() {
        const { code, location, verifier } = yield* authorizeCode
        assert.strictEqual(location.origin + location.pathname, REDIRECT)
        assert.strictEqual(location.searchParams.get("state"), "the-state")
        const wrong = yield* exchange(code, verifier.replace("v", "w"))
        assert.strictEqual(wrong.status, 400)
        assert.strictEqual(wrong.json.error, "invalid_grant")
        const wrongRedirect = yield* exchange(code, verifier, "http://127.0.0.1:1457/auth/callback")
        assert.strictEqual(wrongRedirect.status, 400)
        const ok = yield* exchange(code, verifier)
        assert.strictEqual(ok.status, 200)
        assert.hasAllKeys(ok.json, ["id_token", "access_token", "refresh_token", "token_type", "expires_in", "scope"])
        assert.strictEqual(ok.json.expires_in, 3600)
        const again = yield* exchange(code, verifier)
        assert.strictEqual(again.status, 400)
      }).pipe(withServer()))

    it.effect("refuses malformed authorize requests with an escaped error page", () =>
      Effect.gen(function*() {
        const bad = yield* request(`/oauth/authorize?${authorizeQuery("c", { code_challenge_method: "plain", redirect_uri: "https://evil.example/<script>" })}`)
        assert.strictEqual(bad.status, 400)
        assert.include(bad.text, "code_challenge_method must be S256")
        assert.include(bad.text, "redirect_uri must be an http loopback URL")
        assert.notInclude(bad.text, "<script>")
      }).pipe(withServer()))

    it.effect("deny mode redirects with the error; manual mode shows a page whose links decide", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        yield* server.configure({ authorize: { deny: { error: "access_denied", description: "missing_codex_entitlement" } } })
        const denied = new URL((yield* request(`/oauth/authorize?${authorizeQuery("c")}`)).headers.get("location")!)
        assert.strictEqual(denied.searchParams.get("error"), "access_denied")
        assert.strictEqual(denied.searchParams.get("error_description"), "missing_codex_entitlement")
        assert.strictEqual(denied.searchParams.get("state"), "the-state")

        yield* server.configure({ authorize: "manual" })
        const pageAnswer = yield* request(`/oauth/authorize?${authorizeQuery("c")}`)
        assert.strictEqual(pageAnswer.status, 200)
        const approve = /href="([^"]+approve=1)"/.exec(pageAnswer.text)![1]!.replace(/&amp;/g, "&")
        const approved = new URL((yield* request(approve)).headers.get("location")!)
        assert.isString(approved.searchParams.get("code"))
      }).pipe(withServer()))
  })

  describe("tokens", () => {
    it.effect("are RS256 JWTs that verify against the JWKS and carry OpenAI's claims", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const { code, verifier } = yield* authorizeCode
        const tokens = (yield* exchange(code, verifier)).json
        const keys = jose.createLocalJWKSet((yield* request("/.well-known/jwks.json")).json)
        const access = yield* Effect.promise(() =>
          jose.jwtVerify(tokens.access_token, keys, { issuer: server.url, audience: "https://api.openai.com/v1", currentDate: new Date(0) })
        )
        assert.strictEqual(access.protectedHeader.alg, "RS256")
        assert.deepStrictEqual(access.payload["https://api.openai.com/auth"], {
          chatgpt_account_id: FakeOAuthServer.defaultAccount.accountId,
          chatgpt_account_user_id: `${FakeOAuthServer.defaultAccount.userId}__${FakeOAuthServer.defaultAccount.accountId}`,
          chatgpt_plan_type: "plus",
          chatgpt_user_id: FakeOAuthServer.defaultAccount.userId,
          user_id: FakeOAuthServer.defaultAccount.userId
        })
        assert.strictEqual(access.payload.exp, 3600)
        const id = yield* Effect.promise(() =>
          jose.jwtVerify(tokens.id_token, keys, { issuer: server.url, audience: CLIENT_ID, currentDate: new Date(0) })
        )
        assert.strictEqual(id.payload.email, FakeOAuthServer.defaultAccount.email)
        assert.isTrue(Option.isSome(yield* server.verifyAccessToken(tokens.access_token)))
        yield* TestClock.adjust("1 hour")
        assert.isTrue(Option.isNone(yield* server.verifyAccessToken(tokens.access_token)), "expired")
        assert.isTrue(Option.isNone(yield* server.verifyAccessToken("not.a.token")))
      }).pipe(withServer()))

    it.effect("lifetimes and opaque access tokens are configurable", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const tokens = yield* server.issueTokens({ accessTokenLifetime: "90 seconds" })
        assert.strictEqual(tokens.expiresAt.epochMillis, 90_000)
        yield* server.configure({ opaqueAccessTokens: true, accessTokenLifetime: Duration.minutes(2) })
        const { code, verifier } = yield* authorizeCode
        const answer = (yield* exchange(code, verifier)).json
        assert.match(answer.access_token, /^at_FAKE_/)
        assert.strictEqual(answer.expires_in, 120)
        assert.isTrue(Option.isSome(yield* server.verifyAccessToken(answer.access_token)))
      }).pipe(withServer()))
  })

  describe("refresh", () => {
    const issue = Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (server) => server.issueTokens()).pipe(
      Effect.map((t) => Redacted.value(Option.getOrThrow(t.refreshToken)))
    )

    it.effect("rotates the refresh token; a spent one gets OpenAI's reuse error, word for word", () =>
      Effect.gen(function*() {
        const first = yield* issue
        const rotated = yield* refresh(first)
        assert.strictEqual(rotated.status, 200)
        assert.notStrictEqual(rotated.json.refresh_token, first)
        const reused = yield* refresh(first)
        assert.strictEqual(reused.status, 401)
        assert.deepStrictEqual(reused.json, FakeOAuthServer.errorBodies.reused)
        // The successor still works (reuse mode "reject").
        assert.strictEqual((yield* refresh(rotated.json.refresh_token)).status, 200)
      }).pipe(withServer()))

    it.effect("concurrent requests with one refresh token: exactly one succeeds", () =>
      Effect.gen(function*() {
        const token = yield* issue
        const answers = yield* Effect.all(Array.from({ length: 10 }, () => refresh(token)), { concurrency: "unbounded" })
        assert.deepStrictEqual(answers.map((a) => a.status).sort(), [200, ...Array(9).fill(401)])
      }).pipe(withServer()))

    it.effect("reuse mode revoke-grant also kills the successor", () =>
      Effect.gen(function*() {
        const first = yield* issue
        const next = (yield* refresh(first)).json.refresh_token
        yield* refresh(first)
        const after = yield* refresh(next)
        assert.deepStrictEqual(after.json, FakeOAuthServer.errorBodies.invalidated)
      }).pipe(withServer({ reuse: "revoke-grant" })))

    it.effect("expired, revoked and unknown refresh tokens get their own errors; form encoding is accepted", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const revoked = yield* issue
        yield* server.revokeGrantOf(revoked)
        assert.deepStrictEqual((yield* refresh(revoked)).json, FakeOAuthServer.errorBodies.invalidated)
        assert.deepStrictEqual((yield* refresh("rt_never_issued")).json, FakeOAuthServer.errorBodies.unknownToken)
        const missingClient = yield* refresh(yield* issue, "")
        assert.strictEqual(missingClient.status, 400)
        const form = yield* postForm("/oauth/token", { grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: yield* issue })
        assert.strictEqual(form.status, 200)
        yield* server.configure({ refreshTokenLifetime: Option.some(Duration.days(1)) })
        const aging = yield* issue
        yield* TestClock.adjust("1 day")
        const expired = yield* refresh(aging)
        assert.strictEqual(expired.status, 401)
        assert.deepStrictEqual(expired.json, FakeOAuthServer.errorBodies.expired)
      }).pipe(withServer()))

    it.effect("the API-key token exchange succeeds or fails by setting", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const idToken = Redacted.value(Option.getOrThrow((yield* server.issueTokens()).idToken))
        const fields = {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          client_id: CLIENT_ID,
          requested_token: "openai-api-key",
          subject_token: idToken,
          subject_token_type: "urn:ietf:params:oauth:token-type:id_token"
        }
        assert.match((yield* postForm("/oauth/token", fields)).json.access_token, /^sk-proj-FAKE-/)
        yield* server.configure({ apiKeyExchange: "fail" })
        assert.deepStrictEqual((yield* postForm("/oauth/token", fields)).json, FakeOAuthServer.errorBodies.invalidSubjectToken)
      }).pipe(withServer()))
  })

  describe("device code (OpenAI's 3 steps)", () => {
    it.effect("user code with a string interval, 403 while pending, then the server-made PKCE pair, then the exchange", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const start = (yield* postJson("/api/accounts/deviceauth/usercode", { client_id: CLIENT_ID })).json
        assert.hasAllKeys(start, ["device_auth_id", "user_code", "interval", "expires_at"])
        assert.strictEqual(start.interval, "1")
        const poll = () => postJson("/api/accounts/deviceauth/token", { device_auth_id: start.device_auth_id, user_code: start.user_code })
        for (let i = 0; i < 2; i++) {
          const pending = yield* poll()
          assert.strictEqual(pending.status, 403)
          assert.deepStrictEqual(pending.json, FakeOAuthServer.errorBodies.devicePending)
        }
        const approved = yield* poll()
        assert.strictEqual(approved.status, 200)
        assert.strictEqual(yield* Pkce.challengeOf(approved.json.code_verifier), approved.json.code_challenge)
        const tokens = yield* exchange(approved.json.authorization_code, approved.json.code_verifier, server.provider.endpoints.deviceCallback)
        assert.strictEqual(tokens.status, 200)
        const wrongCode = yield* postJson("/api/accounts/deviceauth/token", { device_auth_id: start.device_auth_id, user_code: "NOPE" })
        assert.strictEqual(wrongCode.status, 400)
      }).pipe(withServer()))

    it.effect("manual approval through approveDevice or the verification page", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        const startOne = (yield* postJson("/api/accounts/deviceauth/usercode", { client_id: CLIENT_ID })).json
        const pollOne = () => postJson("/api/accounts/deviceauth/token", { device_auth_id: startOne.device_auth_id, user_code: startOne.user_code })
        for (let i = 0; i < 5; i++) assert.strictEqual((yield* pollOne()).status, 403)
        assert.isTrue(yield* server.approveDevice(startOne.user_code))
        assert.strictEqual((yield* pollOne()).status, 200)

        const startTwo = (yield* postJson("/api/accounts/deviceauth/usercode", { client_id: CLIENT_ID })).json
        assert.strictEqual((yield* postForm("/codex/device", { user_code: startTwo.user_code })).status, 200)
        const polled = yield* postJson("/api/accounts/deviceauth/token", { device_auth_id: startTwo.device_auth_id, user_code: startTwo.user_code })
        assert.strictEqual(polled.status, 200)
      }).pipe(withServer({ devicePendingPolls: "manual" })))

    it.effect("disabled device codes answer 404 on usercode", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* postJson("/api/accounts/deviceauth/usercode", { client_id: CLIENT_ID })).status, 404)
      }).pipe(withServer({ deviceEnabled: false })))
  })

  it.effect("revoke kills the grant of a refresh or an access token", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const a = yield* server.issueTokens()
      const rt = Redacted.value(Option.getOrThrow(a.refreshToken))
      assert.strictEqual((yield* postJson("/oauth/revoke", { token: rt, token_type_hint: "refresh_token", client_id: CLIENT_ID })).status, 200)
      assert.deepStrictEqual((yield* refresh(rt)).json, FakeOAuthServer.errorBodies.invalidated)
      assert.isTrue(Option.isNone(yield* server.verifyAccessToken(Redacted.value(a.accessToken))))
      const b = yield* server.issueTokens()
      yield* postJson("/oauth/revoke", { token: Redacted.value(b.accessToken), token_type_hint: "access_token" })
      assert.isTrue(Option.isNone(yield* server.verifyAccessToken(Redacted.value(b.accessToken))))
      assert.strictEqual((yield* postJson("/oauth/revoke", { token: "unknown" })).status, 200)
    }).pipe(withServer()))

  describe("faults and the request log", () => {
    it.effect("faults apply per endpoint and per call number, counted from when they are added", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        yield* request("/.well-known/jwks.json")
        yield* server.inject({ endpoint: "jwks", fault: FakeHttp.status(503, "down"), calls: [2, 3] })
        const statuses = []
        for (let i = 0; i < 4; i++) statuses.push((yield* request("/.well-known/jwks.json")).status)
        assert.deepStrictEqual(statuses, [200, 503, 503, 200])
        const log = (yield* server.requests).filter((r) => r.endpoint === "jwks")
        assert.deepStrictEqual(log.map((r) => [r.call, r.fault]), [[1, undefined], [2, undefined], [3, "Status"], [4, "Status"], [5, undefined]])
        // Other endpoints are untouched; "*" matches all; clearFaults removes them.
        assert.strictEqual((yield* postJson("/oauth/revoke", { token: "x" })).status, 200)
        yield* server.inject({ endpoint: "*", fault: FakeHttp.status(500) })
        assert.strictEqual((yield* postJson("/oauth/revoke", { token: "x" })).status, 500)
        yield* server.clearFaults
        assert.strictEqual((yield* postJson("/oauth/revoke", { token: "x" })).status, 200)
      }).pipe(withServer()))

    it.effect("a fault can be limited to some requests with `when`", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        yield* server.inject({
          endpoint: "token",
          fault: FakeHttp.status(500),
          when: (r) => r.fields.some(([k, v]) => k === "grant_type" && v === "refresh_token")
        })
        const { code, verifier } = yield* authorizeCode
        assert.strictEqual((yield* exchange(code, verifier)).status, 200)
        assert.strictEqual((yield* refresh("anything")).status, 500)
      }).pipe(withServer()))

    it.effect("malformed JSON, a reset connection, and latency driven by the clock", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        yield* server.inject({ endpoint: "jwks", fault: FakeHttp.malformedJson(), calls: [1] })
        const malformed = yield* request("/.well-known/jwks.json")
        assert.strictEqual(malformed.status, 200)
        assert.isUndefined(malformed.json)

        yield* server.inject({ endpoint: "jwks", fault: FakeHttp.reset, calls: [1] })
        const reset = yield* Effect.flip(Effect.tryPromise(() => fetch(`${server.url}/.well-known/jwks.json`)))
        assert.include(String(reset.error), "fetch failed")

        yield* server.inject({ endpoint: "jwks", fault: FakeHttp.latency("10 seconds"), calls: [1] })
        const slow = yield* Effect.fork(request("/.well-known/jwks.json"))
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
        assert.isTrue(Option.isNone(yield* Fiber.poll(slow)), "answered before the clock moved")
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Fiber.join(slow)).status, 200)
      }).pipe(withServer()))

    it.effect("the log keeps headers in arrival order, body fields in order, query and call numbers", () =>
      Effect.gen(function*() {
        const server = yield* FakeOAuthServer.FakeOAuthServer
        // node:http keeps header order (fetch sorts them).
        yield* Effect.async<void>((resume) => {
          const body = JSON.stringify({ client_id: CLIENT_ID, grant_type: "refresh_token", refresh_reason: "scheduled", refresh_token: "rt_x" })
          const req = httpRequest(`${server.url}/oauth/token`, {
            method: "POST",
            headers: { "content-type": "application/json", originator: "codex_cli_rs", "x-test": "1" }
          }, (res) => (res.resume(), res.on("end", () => resume(Effect.void))))
          req.end(body)
        })
        yield* request("/oauth/authorize?b=2&a=1")
        const [token, authorize] = yield* server.requests
        assert.deepStrictEqual(token!.headers.slice(0, 3).map(([k]) => k), ["content-type", "originator", "x-test"])
        assert.deepStrictEqual(token!.fields.map(([k]) => k), ["client_id", "grant_type", "refresh_reason", "refresh_token"])
        assert.strictEqual(token!.contentType, "application/json")
        assert.deepStrictEqual(authorize!.query, [["b", "2"], ["a", "1"]])
        assert.strictEqual(authorize!.call, 1)
        yield* server.clearRequests
        assert.lengthOf(yield* server.requests, 0)
      }).pipe(withServer()))
  })
})
