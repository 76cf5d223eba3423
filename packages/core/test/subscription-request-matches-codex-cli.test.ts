/**
 * Our `/responses` request against the one Codex CLI 0.169 sent
 * (`fixtures/codex-cli/backend-responses-request.json`), over node:http to
 * the fake backend: method and path; header names, their order and the values
 * that must match; body keys, their order, and the values that must match.
 *
 * Where we deliberately send less: none of Codex's telemetry headers
 * (`version`, `x-codex-*`, `thread-id`, `x-client-request-id`), no zstd, no
 * `client_metadata`, and no item ids (protocol.md §9: ids point at nothing
 * with `store: false`).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import { codexFixture } from "./fixtures.js"
import { backendHarness, backendRequests, bodyOf, headerOf, sharedIssuer } from "./subscription-support.js"
import { signIn } from "./support.js"

interface Fixture {
  readonly method: string
  readonly path: string
  readonly headers_in_order: ReadonlyArray<readonly [string, string]>
  readonly body: Record<string, any>
}

const fixture = codexFixture<Fixture>("backend-responses-request.json")
const transport = new Set(["host", "content-length", "connection", "content-encoding"])
const ours = ["session-id", "accept", "content-type", "authorization", "chatgpt-account-id", "originator", "user-agent"]

// The first tool of the fixture, as our Tool.
const exec = fixture.body.tools[0] as { name: string; description: string; strict: boolean; parameters: unknown }

const turn = (conversationId: string): SubscriptionLLM.Request => ({
  system: "You are a coding agent.",
  input: [SubscriptionLLM.userMessage("hello")],
  tools: [{ name: exec.name, description: exec.description, strict: exec.strict, parameters: exec.parameters }],
  text: { verbosity: "low" },
  conversationId
})

layer(sharedIssuer, { excludeTestServices: true })("the /responses request matches Codex CLI 0.169's", (it) => {
  it.effect("method, path, header names in the fixture's order, and the values that must match", () =>
    Effect.gen(function*() {
      const tokens = yield* signIn()
      yield* SubscriptionLLM.generate(turn("conv-1"))
      const [request] = yield* backendRequests()
      assert.strictEqual(request!.method, fixture.method)
      assert.strictEqual(request!.path, fixture.path)
      const sent = request!.headers.map(([name]) => name).filter((name) => !transport.has(name))
      assert.deepStrictEqual(sent, ours)
      const fixtureOrder = fixture.headers_in_order.map(([name]) => name).filter((name) => sent.includes(name))
      assert.deepStrictEqual(sent, fixtureOrder, "every header we send is one Codex sends, in Codex's order")
      assert.strictEqual(headerOf(request!, "accept"), "text/event-stream")
      assert.strictEqual(headerOf(request!, "content-type"), "application/json")
      assert.strictEqual(headerOf(request!, "authorization"), `Bearer ${Redacted.value(tokens.accessToken)}`)
      assert.strictEqual(headerOf(request!, "chatgpt-account-id"), Option.getOrThrow(tokens.accountId))
      assert.strictEqual(
        headerOf(request!, "chatgpt-account-id"),
        fixture.headers_in_order.find(([n]) => n === "chatgpt-account-id")![1],
        "the fake account is the fixture's"
      )
      assert.strictEqual(headerOf(request!, "originator"), "codex_cli_rs")
      assert.match(headerOf(request!, "user-agent")!, /^subauth\/\d+\.\d+\.\d+$/)
      assert.strictEqual(headerOf(request!, "session-id"), "conv-1")
      assert.isUndefined(headerOf(request!, "openai-beta"), "0.169 sends no OpenAI-Beta")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("body keys in the fixture's order (client_metadata aside) and the values that must match", () =>
    Effect.gen(function*() {
      yield* signIn()
      yield* SubscriptionLLM.generate(turn("conv-1"))
      yield* SubscriptionLLM.generate(turn("conv-1"))
      const [first, second] = yield* backendRequests()
      const body = bodyOf(first!)
      assert.deepStrictEqual(
        first!.fields.map(([k]) => k),
        Object.keys(fixture.body).filter((k) => k !== "client_metadata")
      )
      for (const key of ["model", "stream", "store", "include", "tool_choice", "parallel_tool_calls", "reasoning", "text"]) {
        assert.deepStrictEqual(body[key], fixture.body[key], key)
      }
      assert.deepStrictEqual(body.tools[0], fixture.body.tools[0], "a function tool in Codex's shape and key order")
      assert.deepStrictEqual(Object.keys(body.tools[0]), Object.keys(fixture.body.tools[0]))
      // The system prompt as a developer message, as 0.169 sends its prompts; no ids, no internal metadata.
      const [developer, user] = body.input as Array<Record<string, unknown>>
      const fixtureDeveloper = fixture.body.input[0] as Record<string, unknown>
      assert.strictEqual(developer!.role, fixtureDeveloper.role)
      assert.deepStrictEqual(Object.keys(developer!), ["type", "role", "content"])
      assert.deepStrictEqual(developer!.content, [{ type: "input_text", text: "You are a coding agent." }])
      assert.deepStrictEqual(user, { type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] })
      // The prompt cache key is stable per conversation.
      assert.strictEqual(body.prompt_cache_key, "conv-1")
      assert.strictEqual(bodyOf(second!).prompt_cache_key, "conv-1")
      assert.strictEqual(first!.contentType, "application/json")
    }).pipe(Effect.provide(backendHarness())))

  it.effect("without a conversation id, turns of one service share its session id; another service has another", () =>
    Effect.gen(function*() {
      yield* signIn()
      const llm = yield* SubscriptionLLM.SubscriptionLLM
      yield* llm.generate({ input: [SubscriptionLLM.userMessage("a")] })
      yield* llm.generate({ input: [SubscriptionLLM.userMessage("b")] })
      const other = yield* SubscriptionLLM.make({ baseUrl: "http://127.0.0.1:1/backend-api/codex", allowInsecureHttp: true })
      const [a, b] = yield* backendRequests()
      assert.strictEqual(bodyOf(a!).prompt_cache_key, llm.sessionId)
      assert.strictEqual(bodyOf(b!).prompt_cache_key, llm.sessionId)
      assert.strictEqual(headerOf(a!, "session-id"), llm.sessionId)
      assert.notStrictEqual(other.sessionId, llm.sessionId)
      assert.match(llm.sessionId, /^[0-9a-f-]{36}$/)
    }).pipe(Effect.provide(backendHarness())))

  it.effect("originator and user agent are configurable", () =>
    Effect.gen(function*() {
      yield* signIn()
      yield* SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("a")] })
      const [request] = yield* backendRequests()
      assert.strictEqual(headerOf(request!, "originator"), "my_app")
      assert.strictEqual(headerOf(request!, "user-agent"), "my-app/1.0")
    }).pipe(Effect.provide(backendHarness({ client: { originator: "my_app", userAgent: "my-app/1.0" } }))))
})
