/**
 * The README's example: type-checked in test/examples/; its program runs here on the fakes (its own layer signs
 * in at OpenAI).
 */
import { assert } from "@effect/vitest"
import { FakeCodexBackend } from "@subauth/testing"
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"
import { Effect } from "effect"
import * as SubscriptionLanguageModel from "../src/SubscriptionLanguageModel.js"
import { program } from "./examples/readme-1.js"

DocsExamplesSuite.run([{
  readme: new URL("../README.md", import.meta.url),
  name: "readme",
  run: {
    1: () =>
      program.pipe(
        Effect.map((text) => assert.strictEqual(text, "hi from the fake backend")),
        Effect.provide(SubscriptionLanguageModel.layer({ model: "gpt-5.5" })),
        Effect.provide(FakeCodexBackend.layerTest())
      )
  }
}], new URL("examples/", import.meta.url))
