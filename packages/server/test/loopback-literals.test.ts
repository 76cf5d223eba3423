/**
 * "Loopback" means a literal loopback address (or `localhost`, resolved and
 * checked), not a string that looks like one: `127.999.0.1` and `"127.0.0.1 "`
 * went to the resolver. And the address actually bound is checked too.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import * as OpenAIProxy from "../src/OpenAIProxy.js"
import { layer } from "./support.js"

const key = Redacted.make("sk-test-key-for-loopback-literals-00000000")

describe("loopback literals", () => {
  it("isLoopback: literal loopback addresses in any spelling, and localhost; nothing trimmed or guessed", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "127.255.255.255", "localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::ffff:7f00:1]"]) {
      assert.isTrue(OpenAIProxy.isLoopback(host), host)
    }
    for (
      const host of [
        "127.999.0.1",
        "127.0.0.1 ",
        " 127.0.0.1",
        "127.0.0.1\n",
        "127.1",
        "0127.0.0.1",
        "127.0.0.01",
        "2130706433",
        "0x7f.0.0.1",
        "localhost.",
        "localhost.evil.com",
        "::2",
        "::ffff:10.0.0.1",
        "[::1",
        "::1::",
        "0.0.0.0",
        "::",
        ""
      ]
    ) {
      assert.isFalse(OpenAIProxy.isLoopback(host), JSON.stringify(host))
    }
  })

  it("checkExposure refuses what only looks like a loopback address", () => {
    for (const host of ["127.999.0.1", "127.0.0.1 "]) {
      const result = OpenAIProxy.checkExposure({ apiKey: key, host })
      assert.isTrue(Either.isLeft(result) && result.left.reason === "RemoteNotAllowed", JSON.stringify(host))
    }
  })

  it("checkBound: the address actually bound must be loopback unless remote access was asked for", () => {
    const tcp = (hostname: string) => ({ _tag: "TcpAddress" as const, hostname, port: 8787 })
    assert.isTrue(Either.isRight(OpenAIProxy.checkBound(tcp("127.0.0.1"), "loopback-only", "x")))
    assert.isTrue(Either.isRight(OpenAIProxy.checkBound(tcp("::1"), "loopback-only", "x")))
    const remote = OpenAIProxy.checkBound(tcp("192.168.1.20"), "loopback-only", "localhost:8787")
    assert.isTrue(Either.isLeft(remote) && remote.left.reason === "RemoteNotAllowed")
    if (Either.isLeft(remote)) assert.include(remote.left.message, "bound to 192.168.1.20")
    assert.isTrue(Either.isRight(OpenAIProxy.checkBound(tcp("192.168.1.20"), "allow-remote", "x")))
  })

  it.live("localhost is resolved, checked and bound to a loopback address", () =>
    Effect.gen(function*() {
      const proxy = yield* OpenAIProxy.OpenAIProxy
      assert.match(proxy.url, /^http:\/\/localhost:\d+$/)
      const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${proxy.port}/v1/models`).catch(() => fetch(`http://[::1]:${proxy.port}/v1/models`)))
      assert.strictEqual(response.status, 401)
    }).pipe(Effect.provide(layer({ host: "localhost" }))))
})
