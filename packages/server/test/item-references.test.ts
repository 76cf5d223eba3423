/**
 * References to earlier output (`item_reference`, reasoning sent back without
 * its `encrypted_content`, `previous_response_id`) through the proxy, which
 * resolves them from its item store because the backend stores nothing: what
 * it returned resolves, for its owner only; what it never returned, or no
 * longer keeps, is a 400 that names it. Never dropped.
 */
import { assert, describe, it } from "@effect/vitest"
import { HttpRouter, HttpServer } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { createServer } from "node:http"
import type OpenAI from "openai"
import * as ItemStore from "../src/ItemStore.js"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { authorized, backendBodies, call, client, enqueue, fetchProxy, KEY, layer } from "./support.js"

const backend = FakeCodexBackend.FakeCodexBackend

type Item = Record<string, unknown>

const post = (path: string, body: unknown) =>
  Effect.flatMap(
    fetchProxy(path, { method: "POST", headers: authorized, body: JSON.stringify(body) }),
    (response) => Effect.promise(async () => ({ status: response.status, json: await response.json() as Record<string, any> }))
  )

const inputOf = (body: Record<string, unknown>) => body.input as ReadonlyArray<Item>

describe("item references through the proxy", () => {
  it.live("an item_reference to an item the proxy never returned: 400 naming the id and the fix; nothing sent", () =>
    Effect.gen(function*() {
      const { status, json } = yield* post("/v1/responses", {
        model: "gpt-5.5",
        input: [{ role: "user", content: "hi" }, { type: "item_reference", id: "msg_never_returned" }, { role: "user", content: "and?" }]
      })
      assert.strictEqual(status, 400)
      assert.deepInclude(json.error, { type: "invalid_request_error", code: "item_not_found", param: "input[1]" })
      for (const words of ["\"msg_never_returned\"", "\"store\": false", "send earlier items in full"]) {
        assert.include(json.error.message, words)
      }
      assert.lengthOf(yield* (yield* backend).requests, 0)

      const reasoning = yield* post("/v1/responses", {
        model: "gpt-5.5",
        input: [{ role: "user", content: "hi" }, { type: "reasoning", id: "rs_unknown", summary: [] }]
      })
      assert.strictEqual(reasoning.status, 400)
      assert.strictEqual(reasoning.json.error.param, "input[1]")
      assert.include(reasoning.json.error.message, "\"rs_unknown\"")
      assert.include(reasoning.json.error.message, "\"encrypted_content\"")
    }).pipe(Effect.provide(layer())))

  it.live("references to what the proxy returned resolve, with their encrypted_content; ids never go upstream", () =>
    Effect.gen(function*() {
      yield* enqueue(
        { items: [FakeCodexBackend.reasoning("first thoughts"), FakeCodexBackend.message("First answer.")] },
        { items: [FakeCodexBackend.message("Second answer.")] }
      )
      const openai = yield* client()
      const first = yield* call(() => openai.responses.create({ model: "gpt-5.5", input: "one" }))
      const [rs, msg] = first.output as ReadonlyArray<{ id: string; encrypted_content?: string }>
      assert.isString(rs!.encrypted_content)
      const second = yield* post("/v1/responses", {
        model: "gpt-5.5",
        input: [
          { role: "user", content: "one" },
          // Sent back without its encrypted content: the proxy has it.
          { type: "reasoning", id: rs!.id, summary: [] },
          { type: "item_reference", id: msg!.id },
          { role: "user", content: "two" }
        ]
      })
      assert.strictEqual(second.status, 200, JSON.stringify(second.json))
      const [, body] = yield* backendBodies
      const input = inputOf(body!)
      assert.deepStrictEqual(input.map((i) => i.type), ["message", "reasoning", "message", "message"])
      assert.strictEqual(input[1]!.encrypted_content, rs!.encrypted_content)
      assert.deepStrictEqual(input[2]!.content, [{ type: "output_text", annotations: [], logprobs: [], text: "First answer." }])
      for (const item of input) assert.notProperty(item, "id")
    }).pipe(Effect.provide(layer())))

  it.live("previous_response_id: the whole conversation before it, turn after turn; an unknown one is a 400", () =>
    Effect.gen(function*() {
      yield* enqueue(
        { items: [FakeCodexBackend.reasoning("r1"), FakeCodexBackend.message("A1")] },
        { items: [FakeCodexBackend.message("A2", { chunks: 1 })] },
        { items: [FakeCodexBackend.message("A3")] }
      )
      const openai = yield* client()
      const one = yield* call(() => openai.responses.create({ model: "gpt-5.5", input: "Q1", instructions: "Be terse." }))
      const two = yield* call(() =>
        openai.responses.stream({ model: "gpt-5.5", input: "Q2", previous_response_id: one.id }).finalResponse()
      )
      assert.strictEqual(two.previous_response_id, one.id)
      const three = yield* call(() => openai.responses.create({ model: "gpt-5.5", input: "Q3", previous_response_id: two.id }))
      assert.strictEqual(three.output_text, "A3")
      const bodies = yield* backendBodies
      const texts = (body: Record<string, unknown>) =>
        inputOf(body).map((i) =>
          i.type === "reasoning"
            ? "reasoning"
            : `${String(i.role)}:${(i.content as ReadonlyArray<{ text: string }>).map((p) => p.text).join("")}`
        )
      // Instructions are not carried over (as with OpenAI): only the first turn has its developer message.
      assert.deepStrictEqual(texts(bodies[0]!), ["developer:Be terse.", "user:Q1"])
      assert.deepStrictEqual(texts(bodies[2]!), ["user:Q1", "reasoning", "assistant:A1", "user:Q2", "assistant:A2", "user:Q3"])

      const unknown = yield* post("/v1/responses", { model: "gpt-5.5", input: "Q", previous_response_id: "resp_unknown" })
      assert.strictEqual(unknown.status, 400)
      assert.strictEqual(unknown.json.error.code, "previous_response_not_found")
      assert.strictEqual(unknown.json.error.param, "previous_response_id")
      assert.include(unknown.json.error.message, "\"resp_unknown\"")
      assert.lengthOf(yield* backendBodies, 3)
    }).pipe(Effect.provide(layer())))

  it.live("a store too small for the conversation: what it no longer keeps is a 400, never dropped; its size stays bounded", () =>
    Effect.gen(function*() {
      const fake = yield* backend
      yield* fake.configure({ respond: () => ({ items: [FakeCodexBackend.reasoning("x".repeat(200)), FakeCodexBackend.message("y".repeat(300))] }) })
      const openai = yield* client()
      const outputs: Array<ReadonlyArray<OpenAI.Responses.ResponseOutputItem>> = []
      for (let i = 0; i < 40; i++) {
        outputs.push((yield* call(() => openai.responses.create({ model: "gpt-5.5", input: `turn ${i}` }))).output)
        const stats = yield* (yield* ItemStore.ItemStore).stats
        assert.isAtMost(stats.bytes, 8 * 1024)
      }
      const oldest = outputs[0]![1]!.id!
      const evicted = yield* post("/v1/responses", { model: "gpt-5.5", input: [{ type: "item_reference", id: oldest }] })
      assert.strictEqual(evicted.status, 400)
      assert.include(evicted.json.error.message, oldest)
      const newest = outputs[39]![1]!.id!
      const kept = yield* post("/v1/responses", { model: "gpt-5.5", input: [{ type: "item_reference", id: newest }] })
      assert.strictEqual(kept.status, 200)
    }).pipe(Effect.provide(layer({}, {}, { maxBytes: 8 * 1024 }))))
})

// --- the app mounted elsewhere, per owner -----------------------------------------------------------

/** Two owners' apps over one SubscriptionLLM and one item store, mounted in a server of the test's own. */
const mounted = Effect.gen(function*() {
  const llm = yield* SubscriptionLLM.SubscriptionLLM
  const router = HttpRouter.empty.pipe(
    HttpRouter.mountApp("/alice", OpenAIProxy.httpApp(llm, { owner: "user:alice", apiKey: KEY })),
    HttpRouter.mountApp("/bob", OpenAIProxy.httpApp(llm, { owner: "user:bob", apiKey: KEY }))
  )
  yield* HttpServer.serveEffect()(router)
  const address = (yield* HttpServer.HttpServer).address
  return `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
})

const mountedLayer = Layer.mergeAll(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }), ItemStore.layerMemory()).pipe(
  Layer.provideMerge(FakeCodexBackend.layerTest()),
  Layer.orDie,
  Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
)

describe("the proxy's app mounted elsewhere", () => {
  it.live("each owner resolves its own earlier output, never another's", () =>
    Effect.scoped(Effect.gen(function*() {
      const base = yield* mounted
      const ask = (who: string, body: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`${base}/${who}/v1/responses`, {
            method: "POST",
            headers: { authorization: `Bearer ${Redacted.value(KEY)}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          })
          return { status: response.status, json: await response.json() as Record<string, any> }
        })
      const first = yield* ask("alice", { model: "gpt-5.5", input: "hi" })
      assert.strictEqual(first.status, 200)
      const id = first.json.output[0].id as string
      const again = [{ role: "user", content: "hi" }, { type: "item_reference", id }]
      assert.strictEqual((yield* ask("alice", { model: "gpt-5.5", input: again })).status, 200)
      const bob = yield* ask("bob", { model: "gpt-5.5", input: again })
      assert.strictEqual(bob.status, 400)
      assert.include(bob.json.error.message, id)
      const previous = yield* ask("bob", { model: "gpt-5.5", input: "hi", previous_response_id: first.json.id })
      assert.strictEqual(previous.status, 400)
      const stats = yield* (yield* ItemStore.ItemStore).stats
      assert.strictEqual(stats.owners, 1)
    })).pipe(Effect.provide(mountedLayer)))
})
