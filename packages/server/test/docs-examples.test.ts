/**
 * The README's examples: type-checked in test/examples/; the gateway runs here, mounted in a server on a free
 * port, over the fakes.
 */
import { assert } from "@effect/vitest"
import { HttpServer } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SubscriptionLLM } from "@subauth/core"
import { FakeCodexBackend } from "@subauth/testing"
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { createServer } from "node:http"
import { gateway, Store } from "./examples/readme-3.js"

DocsExamplesSuite.run([{
  readme: new URL("../README.md", import.meta.url),
  name: "readme",
  run: {
    3: () =>
      Effect.gen(function*() {
        const llm = yield* SubscriptionLLM.SubscriptionLLM
        yield* HttpServer.serveEffect()(gateway(Effect.succeed({ id: "alice", llm })))
        const address = (yield* HttpServer.HttpServer).address
        const port = address._tag === "TcpAddress" ? address.port : 0
        const answer = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/gateway/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] })
          }).then(async (response) => ({ status: response.status, json: await response.json() as any }))
        )
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.json.choices[0].message.content, "hi from the fake backend")
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }), Store).pipe(
            Layer.provideMerge(FakeCodexBackend.layerTest()),
            Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
          )
        )
      )
  }
}], new URL("examples/", import.meta.url))
