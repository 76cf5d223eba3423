import { assert, describe, it } from "@effect/vitest"
import { AuthError, SubscriptionLLM, TokenStore } from "@subauth/core"
import { DateTime, Duration } from "effect"
import { RequestError, toAnswer } from "../src/ProxyError.js"

const NOW = 1_800_000_000_000

describe("toAnswer", () => {
  it("a usage limit: 429, retry-after in seconds until the reset, no SDK retries", () => {
    const inSeconds = toAnswer(new SubscriptionLLM.UsageLimitReached({ reason: "UsageLimitReached", planType: "plus", resetsInSeconds: 90.5 }), NOW)
    assert.strictEqual(inSeconds.status, 429)
    assert.deepStrictEqual(inSeconds.headers, { "x-should-retry": "false", "retry-after": "91" })
    assert.strictEqual(inSeconds.error.code, "usage_limit_reached")
    assert.include(inSeconds.error.message, "usage limit of the ChatGPT plus plan reached")

    const atInstant = toAnswer(
      new SubscriptionLLM.UsageLimitReached({ reason: "UsageLimitReached", resetsAt: DateTime.unsafeMake(NOW + 3_600_000) }),
      NOW
    )
    assert.strictEqual(atInstant.headers["retry-after"], "3600")
    const unknown = toAnswer(new SubscriptionLLM.UsageLimitReached({ reason: "UsageLimitReached" }), NOW)
    assert.strictEqual(unknown.headers["retry-after"], "60")
    const notIncluded = toAnswer(new SubscriptionLLM.UsageLimitReached({ reason: "UsageNotIncluded" }), NOW)
    assert.strictEqual(notIncluded.status, 429)
    assert.strictEqual(notIncluded.error.code, "usage_not_included")
    assert.isUndefined(notIncluded.headers["retry-after"])
  })

  it("sign-in required: 401 naming the command, with the profile", () => {
    const dead = toAnswer(new AuthError.ReauthRequired({ reason: "RefreshTokenReused", profile: "work" }), NOW)
    assert.strictEqual(dead.status, 401)
    assert.strictEqual(dead.error.type, "authentication_error")
    assert.strictEqual(dead.error.code, "sign_in_required")
    assert.include(dead.error.message, "run \"subauth login --profile work\"")
    const refused = toAnswer(new SubscriptionLLM.ResponseError({ reason: "Unauthorized", status: 401 }), NOW)
    assert.strictEqual(refused.status, 401)
    assert.include(refused.error.message, "subauth login")
  })

  it("the backend and the network: 502 after the retries, 504 on a timeout, 503 when overloaded", () => {
    const cases: ReadonlyArray<readonly [unknown, number, string]> = [
      [new AuthError.TransportError({ reason: "ServerError", endpoint: "responses", status: 503 }), 502, "backend_unavailable"],
      [new AuthError.TransportError({ reason: "ConnectionFailed", endpoint: "responses" }), 502, "backend_unavailable"],
      [new AuthError.TransportError({ reason: "Timeout", endpoint: "responses" }), 504, "backend_timeout"],
      [new SubscriptionLLM.ResponseError({ reason: "Overloaded", code: "slow_down" }), 503, "slow_down"],
      [new SubscriptionLLM.ResponseError({ reason: "StreamClosed" }), 502, "bad_gateway"],
      [new SubscriptionLLM.ResponseError({ reason: "Failed", code: "server_error" }), 502, "server_error"],
      [new SubscriptionLLM.ResponseError({ reason: "InvalidRequest", status: 400, description: "Unsupported parameter: x" }), 400, "invalid_request"],
      [new SubscriptionLLM.ResponseError({ reason: "ContextLengthExceeded" }), 400, "context_length_exceeded"],
      [new SubscriptionLLM.ResponseError({ reason: "QuotaExceeded" }), 429, "insufficient_quota"],
      [new SubscriptionLLM.ResponseError({ reason: "Forbidden", status: 403 }), 403, "forbidden"],
      [new AuthError.TokenEndpointError({ reason: "ErrorResponse", endpoint: "token", status: 400 }), 502, "token_endpoint_error"],
      [new TokenStore.TokenStoreError({ reason: "Corrupt", profile: "default", description: "broken" }), 500, "token_store_error"],
      [new RequestError({ reason: "InvalidBody", param: "messages", description: "x" }), 400, "invalid_body"],
      [new RequestError({ reason: "InvalidApiKey", description: "no API key was sent" }), 401, "invalid_api_key"],
      [new RequestError({ reason: "ShuttingDown", description: "x" }), 503, "server_shutting_down"]
    ]
    for (const [error, status, code] of cases) {
      const answer = toAnswer(error, NOW)
      assert.strictEqual(answer.status, status, String(error))
      assert.strictEqual(answer.error.code, code, String(error))
    }
    const limited = toAnswer(new SubscriptionLLM.ResponseError({ reason: "RateLimited", retryAfter: Duration.millis(1500) }), NOW)
    assert.strictEqual(limited.status, 429)
    assert.strictEqual(limited.headers["retry-after"], "2")
  })

  it("anything else: 500 that says nothing about it", () => {
    for (const thing of [new Error("secret detail"), "text", null, { _tag: "Mystery", message: "secret detail" }]) {
      const answer = toAnswer(thing, NOW)
      assert.strictEqual(answer.status, 500)
      assert.notInclude(answer.error.message, "secret detail")
    }
  })
})
