/**
 * A full token cycle with every log level on: sign in with PKCE over loopback,
 * refresh at expiry, 401 recovery, a transient failure, a server that echoes a
 * token in its error text, a malformed answer, revocation, the dead login.
 * No token value may appear in any log line, error message or printed value.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Cause, DateTime, Effect, Fiber, Layer, Logger, LogLevel, Option, Redacted, TestClock } from "effect"
import * as Pkce from "../src/Pkce.js"
import * as Provider from "../src/Provider.js"
import * as SecureRandom from "../src/SecureRandom.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"
import * as TokenManager from "../src/TokenManager.js"
import * as TokenSet from "../src/TokenSet.js"
import * as TokenStore from "../src/TokenStore.js"
import { harness } from "./support.js"

const lines: Array<string> = []
const capture = Logger.make<unknown, void>((options) => {
  lines.push(Logger.logfmtLogger.log(options))
  lines.push(Logger.jsonLogger.log(options))
})
const logging = Layer.merge(Logger.replace(Logger.defaultLogger, capture), Logger.minimumLogLevel(LogLevel.All))

describe("secrets never reach output", () => {
  it.effect("no token value in any log line, error message or printed value over a full cycle", () =>
    Effect.gen(function*() {
      const server = yield* FakeOAuthServer.FakeOAuthServer
      const provider = yield* Provider.Provider
      const store = yield* TokenStore.TokenStore
      const secrets = new Set<string>()
      const printed: Array<string> = []
      const remember = (t: TokenSet.TokenSet) => {
        secrets.add(Redacted.value(t.accessToken))
        Option.map(t.refreshToken, (r) => secrets.add(Redacted.value(r)))
        Option.map(t.idToken, (r) => secrets.add(Redacted.value(r)))
        printed.push(String(t), JSON.stringify(t))
        return t
      }
      const failure = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(Effect.flip(effect), (e) =>
          Effect.sync(() => printed.push(e.message, String(e), JSON.stringify(e), Cause.pretty(Cause.fail(e)))))

      // Sign in: authorize (auto-approved) and exchange the code, over loopback.
      const pkce = yield* Pkce.make
      const redirectUri = "http://127.0.0.1:1455/auth/callback"
      const authorize = new URL(provider.endpoints.authorize)
      for (
        const [k, v] of Object.entries({
          response_type: "code",
          client_id: provider.clientId,
          redirect_uri: redirectUri,
          code_challenge: pkce.challenge,
          code_challenge_method: "S256",
          state: "s1"
        })
      ) authorize.searchParams.set(k, v)
      const redirect = yield* Effect.promise(() => fetch(authorize, { redirect: "manual" }))
      const code = new URL(redirect.headers.get("location")!).searchParams.get("code")!
      secrets.add(code)
      secrets.add(Redacted.value(pkce.verifier))
      const answer = yield* TokenEndpoint.exchangeCode({ code: Redacted.make(code), redirectUri, verifier: pkce.verifier })
      const now = DateTime.unsafeMake(yield* Effect.clockWith((c) => c.currentTimeMillis))
      const signedIn = remember(TokenSet.fromResponse(answer, now))
      yield* store.set("default", signedIn)

      const manager = yield* TokenManager.TokenManager
      remember(yield* manager.get)
      // Refresh at expiry, after one transient failure.
      yield* server.inject({ endpoint: "token", fault: FakeHttp.status(503), calls: [1] })
      yield* TestClock.setTime(DateTime.toEpochMillis(signedIn.expiresAt))
      const refreshFiber = yield* Effect.fork(manager.get)
      // Move the clock until the retry after the 503 has happened (the answer arrives in real time).
      while (Option.isNone(yield* Fiber.poll(refreshFiber))) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        yield* TestClock.adjust("1 second")
      }
      const refreshed = remember(yield* Fiber.join(refreshFiber))
      // 401 recovery.
      const recovered = remember(yield* manager.recover(refreshed.accessToken))

      // A server that echoes the refresh token in its error text.
      const rt = Redacted.value(Option.getOrThrow(recovered.refreshToken))
      yield* server.inject({
        endpoint: "token",
        fault: FakeHttp.status(400, { error: "invalid_request", error_description: `bad refresh_token ${rt}` }),
        calls: [1]
      })
      yield* failure(manager.recover(recovered.accessToken))
      // A malformed answer that carries token-like values.
      yield* server.inject({
        endpoint: "token",
        fault: FakeHttp.status(200, { access_token: 12, refresh_token: rt, id_token: Redacted.value(Option.getOrThrow(recovered.idToken)) }),
        calls: [1]
      })
      yield* failure(manager.recover(recovered.accessToken))

      // Revoke (logout elsewhere), then the dead login.
      yield* TokenEndpoint.revoke({ token: Option.getOrThrow(recovered.refreshToken), hint: "refresh_token" })
      yield* failure(manager.recover(recovered.accessToken))
      yield* failure(manager.get)
      yield* failure(TokenStore.validateProfile(`../${rt}`).pipe(Effect.asVoid))

      for (const request of yield* server.requests) {
        for (const [k, v] of request.fields) if (/token|code|verifier/.test(k) && v.length >= 16) secrets.add(v)
      }
      assert.isAbove(lines.length, 10, "the cycle logged")
      assert.isAbove(secrets.size, 8, "the cycle saw tokens")
      const output = [...lines, ...printed]
      for (const secret of secrets) {
        const signature = secret.split(".")[2]
        for (const line of output) {
          assert.notInclude(line, secret)
          if (signature !== undefined && signature.length > 16) assert.notInclude(line, signature)
        }
      }
      // The scrubbed text is still useful.
      assert.isTrue(output.some((l) => l.includes("bad refresh_token <redacted>")))
    }).pipe(Effect.provide(Layer.mergeAll(harness(), SecureRandom.layer, logging))))
})
