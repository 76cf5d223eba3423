/**
 * A conversation id travels as the `session-id` header: one that cannot be a
 * header (CR/LF, too long, control characters) is the caller's mistake, a
 * typed `InvalidRequest` before anything is sent, never a defect.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as CodexWire from "../src/CodexWire.js"
import * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import { backendHarness, backendRequests, headerOf, sharedIssuer } from "./subscription-support.js"
import { signIn } from "./support.js"

layer(sharedIssuer, { excludeTestServices: true })("conversation ids", (it) => {
  it.effect("bad ones are InvalidRequest and nothing is sent; good ones are the session-id header", () =>
    Effect.gen(function*() {
      yield* signIn()
      for (const conversationId of ["a\r\nx-injected: 1", "k".repeat(CodexWire.MAX_SESSION_ID_LENGTH + 1), "", "tab\there", "\x1b[2J"]) {
        const error = yield* Effect.flip(SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("hi")], conversationId }))
        assert.isTrue(error._tag === "ResponseError" && error.reason === "InvalidRequest", error.message)
        assert.include(error.message, "\"conversationId\" must be 1 to 256 visible ASCII characters")
      }
      assert.lengthOf(yield* backendRequests(), 0)
      yield* SubscriptionLLM.generate({ input: [SubscriptionLLM.userMessage("hi")], conversationId: "conversation 42" })
      const [sent] = yield* backendRequests()
      assert.strictEqual(headerOf(sent!, "session-id"), "conversation 42")
    }).pipe(Effect.provide(backendHarness())))
})
