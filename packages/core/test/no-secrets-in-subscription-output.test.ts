/**
 * Every SubscriptionLLM path with every log level on and every span recorded:
 * a streamed turn, dropped parameters, 401 recovery, 5xx retries, a usage
 * limit, a backend that echoes the token in its error text (HTTP and
 * `response.failed`), a cut stream, the model list and its fallback. No token
 * may appear in a log line, an error message, a printed error or a span
 * attribute, and the `authorization` and `chatgpt-account-id` headers are
 * redacted wherever headers are printed.
 */
import { Headers } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp } from "@subauth/testing"
import { Cause, Effect, Inspectable, Option, Redacted, Stream, Tracer } from "effect"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import type * as TokenSet from "../src/TokenSet.js"
import { backendHarness, backendOnly, captureLogs, sharedIssuer } from "./subscription-support.js"
import { refreshRequests, signIn } from "./support.js"

// Runs `effect` with a tracer that keeps every span it starts.
const recordSpans = (spans: Array<Tracer.Span>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.tracer, (base) =>
    Effect.withTracer(
      effect,
      Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
    ))

layer(sharedIssuer, { excludeTestServices: true })("secrets never reach output (SubscriptionLLM)", (it) => {
  const lines: Array<string> = []
  const spans: Array<Tracer.Span> = []
  it.effect("no token in any log line, error, printed value or span over every path", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const secrets = new Set<string>()
      const printed: Array<string> = []
      const remember = (tokens: TokenSet.TokenSet) => {
        secrets.add(Redacted.value(tokens.accessToken))
        Option.map(tokens.refreshToken, (t) => secrets.add(Redacted.value(t)))
        Option.map(tokens.idToken, (t) => secrets.add(Redacted.value(t)))
      }
      const print = (e: { readonly message: string }) =>
        printed.push(e.message, String(e), JSON.stringify(e), Cause.pretty(Cause.fail(e)), Inspectable.format(e))
      const failure = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(Effect.flip(effect), (e) => Effect.sync(() => print(e)))
      const ask = (extra: Partial<SubscriptionLLM.Request> = {}) =>
        SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("hi")], ...extra })

      const signedIn = yield* signIn()
      remember(signedIn)
      const token = Redacted.value(signedIn.accessToken)
      yield* Stream.runDrain(SubscriptionLLM.stream({ input: [SubscriptionLLM.userMessage("hi")], temperature: 1 }))
      // 401 recovery, then 5xx retries with the new token.
      yield* backend.rejectAccessToken(token)
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(503), calls: [2] })
      yield* ask()
      // A backend that echoes the token, in an HTTP error and in response.failed.
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(400, { detail: `bad token ${token}` }), calls: [1] })
      yield* failure(ask())
      yield* backend.enqueue({ items: [], ending: FakeCodexBackend.failed("server_error", `token ${token} broke it`) })
      yield* failure(ask())
      yield* backend.inject({
        endpoint: "responses",
        fault: FakeCodexBackend.usageLimit({ resetsAt: 1795346996, resetsInSeconds: 3600 }),
        calls: [1]
      })
      yield* failure(ask())
      yield* backend.enqueue({ items: [FakeCodexBackend.message("cut")], ending: FakeCodexBackend.cut({ mode: "drop" }) })
      yield* failure(ask())
      yield* SubscriptionLLM.models
      yield* backend.inject({ endpoint: "models", fault: FakeHttp.status(401, FakeCodexBackend.unauthorizedBody) })
      yield* SubscriptionLLM.models
      yield* backend.inject({ endpoint: "responses", fault: FakeHttp.status(401, { detail: `expired ${token}` }) })
      yield* failure(ask())

      // Headers logged anywhere under the layer are redacted.
      const account = Option.getOrThrow(signedIn.accountId)
      yield* Effect.logDebug("headers", Headers.fromInput({ authorization: `Bearer ${token}`, "chatgpt-account-id": account }))
      assert.isTrue(lines.some((l) => l.includes("chatgpt-account-id") && l.includes("<redacted>")))
      assert.isFalse(lines.some((l) => l.includes(account)), "the account id is not logged")

      // The tokens the refreshes produced are secrets too.
      for (const request of yield* refreshRequests) {
        for (const [k, v] of request.fields) if (k === "refresh_token") secrets.add(v)
      }
      for (const request of yield* backend.requests) {
        const bearer = request.headers.find(([n]) => n === "authorization")?.[1]
        if (bearer !== undefined) secrets.add(bearer.slice("Bearer ".length))
      }
      assert.isAbove(secrets.size, 4, "the paths saw several tokens")
      assert.isAbove(lines.length, 10, "the paths logged")
      const attributes = spans.flatMap((span) => [...span.attributes].map(([k, v]) => `${k}=${String(v)}`))
      assert.isTrue(attributes.some((a) => a.startsWith("http.request.header.authorization=")), "the client traced headers")
      for (const attribute of attributes.filter((a) => a.startsWith("http.request.header."))) {
        assert.notInclude(attribute, account, "chatgpt-account-id is redacted in spans")
      }
      const output = [...lines, ...printed, ...attributes]
      // Not even a piece: every 24-character window of every secret.
      const all = output.join("\n")
      for (const secret of secrets) {
        for (let i = 0; i + 24 <= secret.length; i += 12) assert.notInclude(all, secret.slice(i, i + 24))
      }
      assert.isTrue(printed.some((l) => l.includes("bad token <redacted>")), "scrubbed text stays useful")
    }).pipe(
      recordSpans(spans),
      Effect.provide(backendHarness()),
      Effect.provide(captureLogs(lines))
    ))

  it.effect("built with make, without the layer, the HTTP client's spans still redact both headers", () => {
    const recorded: Array<Tracer.Span> = []
    return Effect.gen(function*() {
      const tokens = yield* signIn()
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const llm = yield* SubscriptionLLM.make(backend.clientOptions)
      yield* llm.generate({ input: [SubscriptionLLM.userMessage("hi")] }).pipe(recordSpans(recorded))
      const headers = recorded.flatMap((span) => [...span.attributes].filter(([k]) => k.startsWith("http.request.header.")))
      const value = (name: string) => headers.find(([k]) => k === `http.request.header.${name}`)?.[1]
      assert.strictEqual(String(value("authorization")), "<redacted>")
      assert.strictEqual(String(value("chatgpt-account-id")), "<redacted>")
      assert.isFalse(headers.some(([, v]) => String(v).includes(Redacted.value(tokens.accessToken))))
    }).pipe(Effect.provide(backendOnly()))
  })
})
