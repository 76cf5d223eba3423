/**
 * The fake Codex backend answers as the real one is known to (protocol.md §5,
 * §9), checked with plain fetch over 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as FakeCodexBackend from "../src/FakeCodexBackend.js"
import * as FakeOAuthServer from "../src/FakeOAuthServer.js"

const layer = FakeCodexBackend.layer().pipe(Layer.provideMerge(FakeOAuthServer.layer()))

const fixtureText = (name: string) => readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8")

interface Sent {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

// A signed-in caller: token and account from the fake issuer, the body as given.
const post = (body: unknown, auth: { readonly token?: string; readonly account?: string } = {}) =>
  Effect.gen(function*() {
    const backend = yield* FakeCodexBackend.FakeCodexBackend
    const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
    const token = auth.token ?? Redacted.value(tokens.accessToken)
    const account = auth.account ?? Option.getOrThrow(tokens.accountId)
    return yield* Effect.promise(async (): Promise<Sent> => {
      const response = await fetch(`${backend.baseUrl}/responses`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "chatgpt-account-id": account,
          "content-type": "application/json",
          accept: "text/event-stream"
        },
        body: JSON.stringify(body)
      })
      return { status: response.status, headers: response.headers, text: await response.text() }
    })
  })

const valid = (extra: Record<string, unknown> = {}) => ({
  model: "gpt-5.5",
  stream: true,
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }],
  tools: [],
  tool_choice: "auto",
  parallel_tool_calls: true,
  reasoning: { effort: "medium" },
  store: false,
  include: ["reasoning.encrypted_content"],
  prompt_cache_key: "conv",
  ...extra
})

const events = (text: string) =>
  text.split("\n\n").filter((f) => f.trim() !== "").map((frame) => {
    const lines = frame.split("\n")
    return {
      event: lines.find((l) => l.startsWith("event: "))?.slice(7),
      data: JSON.parse(lines.find((l) => l.startsWith("data: "))!.slice(6)) as Record<string, any>
    }
  })

describe("FakeCodexBackend", () => {
  it.live("the default answer streams like the captured full stream, with rate-limit headers", () =>
    Effect.gen(function*() {
      const sent = yield* post(valid())
      assert.strictEqual(sent.status, 200)
      assert.strictEqual(sent.headers.get("content-type"), "text/event-stream")
      assert.strictEqual(sent.headers.get("x-codex-primary-used-percent"), "12.5")
      assert.strictEqual(sent.headers.get("x-codex-secondary-window-minutes"), "10080")
      const ours = events(sent.text)
      const captured = events(fixtureText("sse-full-sse.txt"))
      assert.deepStrictEqual(ours.map((e) => e.event), captured.map((e) => e.event))
      assert.deepStrictEqual(ours.map((e) => e.data.type), captured.map((e) => e.data.type))
      assert.deepStrictEqual(ours.map((e) => e.data.sequence_number), captured.map((e) => e.data.sequence_number))
      assert.deepStrictEqual(ours.map((e) => Object.keys(e.data)), captured.map((e) => Object.keys(e.data)))
      const done = ours.find((e) => e.data.type === "response.output_item.done")!.data.item
      const capturedDone = captured.find((e) => e.data.type === "response.output_item.done")!.data.item
      assert.deepStrictEqual(Object.keys(done), Object.keys(capturedDone))
      assert.deepStrictEqual(done.content, capturedDone.content)
      assert.deepStrictEqual(ours.at(-1)!.data.response.output, [], "completed.output is empty by default")
    }).pipe(Effect.provide(layer)))

  it.live("401 without a valid token, for a rejected token, and 403 for another account", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      assert.strictEqual((yield* post(valid(), { token: "not-a-token" })).status, 401)
      const denied = yield* post(valid(), { token: "not-a-token" })
      assert.deepStrictEqual(JSON.parse(denied.text), FakeCodexBackend.unauthorizedBody)
      assert.strictEqual((yield* post(valid(), { account: "someone-else" })).status, 403)
      const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
      const token = Redacted.value(tokens.accessToken)
      assert.strictEqual((yield* post(valid(), { token })).status, 200)
      yield* backend.rejectAccessToken(token)
      assert.strictEqual((yield* post(valid(), { token })).status, 401, "valid a moment ago, refused now")
    }).pipe(Effect.provide(layer)))

  it.live("refuses what the real backend refuses, with its words", () =>
    Effect.gen(function*() {
      const detail = (sent: Sent) => (JSON.parse(sent.text) as { detail?: string; error?: { message: string } })
      const cases: Array<[Record<string, unknown>, number, string]> = [
        [{ temperature: 0.2 }, 400, "Unsupported parameter: temperature"],
        [{ max_output_tokens: 10 }, 400, "Unsupported parameter: max_output_tokens"],
        [{ top_p: 1 }, 400, "Unsupported parameter: top_p"],
        [{ store: true }, 400, "Store must be set to false"],
        [{ stream: false }, 400, "Stream must be set to true"],
        [{ model: "gpt-4o" }, 400, "The 'gpt-4o' model is not supported when using Codex with a ChatGPT account."],
        [{ input: [{ type: "message", id: "msg_1", role: "user", content: [] }] }, 404, "Item with id 'msg_1' not found."],
        [{ input: [{ type: "reasoning", summary: [], encrypted_content: "made-up" }] }, 400, "could not be verified"],
        [{ input: [{ type: "function_call_output", call_id: "call_x", output: "1" }] }, 400, "No tool call found for function call output with call_id call_x."]
      ]
      for (const [extra, status, text] of cases) {
        const sent = yield* post(valid(extra))
        assert.strictEqual(sent.status, status, JSON.stringify(extra))
        const body = detail(sent)
        assert.include(body.detail ?? body.error?.message ?? "", text)
        assert.strictEqual(sent.headers.get("x-codex-primary-used-percent"), "12.5", "rate limits on every answer")
      }
    }).pipe(Effect.provide(layer)))

  it.live("scripted answers in order: reasoning with encrypted content (only when included), calls, endings", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      yield* backend.enqueue(
        { items: [FakeCodexBackend.reasoning("hmm"), FakeCodexBackend.functionCall("f", { a: 1 }, "call_1")] },
        { items: [FakeCodexBackend.reasoning("hmm")] },
        { items: [FakeCodexBackend.message("x")], ending: FakeCodexBackend.failed("server_error", "boom") },
        { items: [FakeCodexBackend.message("abc", { chunks: 3 })], ending: FakeCodexBackend.cut() },
        { items: [FakeCodexBackend.message("full")], ending: FakeCodexBackend.completed({ output: "items" }) }
      )
      const first = events((yield* post(valid())).text)
      const items = first.filter((e) => e.data.type === "response.output_item.done").map((e) => e.data.item)
      assert.deepStrictEqual(items.map((i) => i.type), ["reasoning", "function_call"])
      assert.match(items[0].encrypted_content, /^gAAAAB_FAKE_/)
      assert.deepStrictEqual(items[1], { id: items[1].id, type: "function_call", status: "completed", arguments: "{\"a\":1}", call_id: "call_1", name: "f" })
      const second = events((yield* post(valid({ include: [] }))).text)
      assert.notProperty(second.find((e) => e.data.type === "response.output_item.done")!.data.item, "encrypted_content")
      const third = events((yield* post(valid())).text)
      assert.deepStrictEqual(third.at(-1)!.data.response.error, { code: "server_error", message: "boom" })
      const fourth = events((yield* post(valid())).text)
      assert.deepStrictEqual(fourth.filter((e) => e.data.type === "response.output_text.delta").map((e) => e.data.delta), ["a", "b", "c"])
      assert.isFalse(fourth.some((e) => e.data.type === "response.completed"))
      const fifth = events((yield* post(valid())).text)
      assert.strictEqual(fifth.at(-1)!.data.response.output[0].content[0].text, "full")
      // The reasoning item issued in the first answer is accepted back, without its id.
      const { id: _, ...reasoning } = items[0]
      const back = yield* post(valid({
        input: [
          ...valid().input,
          reasoning,
          { type: "function_call", call_id: "call_1", name: "f", arguments: "{}" },
          { type: "function_call_output", call_id: "call_1", output: "1" }
        ]
      }))
      assert.strictEqual(back.status, 200)
      const log = yield* backend.requests
      assert.strictEqual(log.length, 6)
      assert.isTrue(log.every((r) => r.endpoint === "responses" && r.path === "/backend-api/codex/responses"))
    }).pipe(Effect.provide(layer)))

  it.live("GET /models: the catalog for a client_version, with auth", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
      const get = (query: string, token = Redacted.value(tokens.accessToken)) =>
        Effect.promise(async () => {
          const response = await fetch(`${backend.baseUrl}/models${query}`, {
            headers: { authorization: `Bearer ${token}`, "chatgpt-account-id": Option.getOrThrow(tokens.accountId) }
          })
          return { status: response.status, json: await response.json() as any }
        })
      const ok = yield* get("?client_version=0.169.0")
      assert.strictEqual(ok.status, 200)
      assert.deepStrictEqual(ok.json.models.map((m: any) => m.slug), ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex"])
      assert.strictEqual((yield* get("")).status, 400)
      assert.strictEqual((yield* get("?client_version=1", "nope")).status, 401)
    }).pipe(Effect.provide(layer)))

  it.live("GET /wham/usage: the windows tests set, with auth; the same windows in the headers of /responses", () =>
    Effect.gen(function*() {
      const backend = yield* FakeCodexBackend.FakeCodexBackend
      const tokens = yield* (yield* FakeOAuthServer.FakeOAuthServer).issueTokens()
      const get = (token = Redacted.value(tokens.accessToken), account = Option.getOrThrow(tokens.accountId)) =>
        Effect.promise(async () => {
          const response = await fetch(`${backend.url}/backend-api/wham/usage`, {
            headers: { authorization: `Bearer ${token}`, "chatgpt-account-id": account, accept: "application/json" }
          })
          return { status: response.status, json: await response.json() as any }
        })
      // Today's fixed headers are what the default usage says.
      assert.deepStrictEqual(FakeCodexBackend.usageHeaders(FakeCodexBackend.defaultUsage), FakeCodexBackend.defaultRateLimitHeaders)
      const first = yield* get()
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.json.rate_limit.primary_window.used_percent, 12.5)
      assert.strictEqual(first.json.rate_limit.primary_window.limit_window_seconds, 18000)
      assert.strictEqual((yield* get("nope")).status, 401)
      assert.strictEqual((yield* get(undefined, "another-account")).status, 403)

      yield* backend.setUsage({
        primary: { usedPercent: 93, windowMinutes: 300, resetsInSeconds: 600 },
        plan: "pro",
        credits: { hasCredits: true, unlimited: false, balance: "5.39" },
        others: [{ id: "codex_other", name: "Spark", primary: { usedPercent: 20, windowMinutes: 300 } }]
      })
      const set = (yield* get()).json
      assert.strictEqual(set.plan_type, "pro")
      assert.strictEqual(set.rate_limit.primary_window.used_percent, 93)
      assert.isUndefined(set.rate_limit.secondary_window)
      assert.deepStrictEqual(set.additional_rate_limits, [{
        limit_name: "Spark",
        metered_feature: "codex_other",
        rate_limit: { allowed: true, limit_reached: false, primary_window: { used_percent: 20, limit_window_seconds: 18000 } }
      }])
      assert.strictEqual(set.credits.balance, "5.39")
      const answer = yield* post(valid())
      assert.strictEqual(answer.headers.get("x-codex-primary-used-percent"), "93")
      assert.strictEqual(answer.headers.get("x-codex-primary-reset-after-seconds"), "600")
      assert.isNull(answer.headers.get("x-codex-secondary-used-percent"))
      assert.strictEqual(answer.headers.get("x-codex-plan-type"), "pro")
      assert.strictEqual(answer.headers.get("x-codex-other-primary-used-percent"), "20")
      assert.strictEqual(answer.headers.get("x-codex-other-limit-name"), "Spark")
      assert.deepStrictEqual((yield* backend.requests).filter((r) => r.endpoint === "usage").map((r) => r.path), [
        "/backend-api/wham/usage",
        "/backend-api/wham/usage",
        "/backend-api/wham/usage",
        "/backend-api/wham/usage"
      ])
    }).pipe(Effect.provide(layer)))
})
