import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import * as Settings from "../src/Settings.js"

const read = (env: Record<string, string>, terminals: Partial<Settings.Terminals> = {}) =>
  Settings.fromConfig({ stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: true, platform: "linux", ...terminals }).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

describe("Settings", () => {
  it.effect("colour only on a terminal and never with a NO_COLOR that is not empty (no-color.org)", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* read({})).color)
      assert.isTrue((yield* read({ NO_COLOR: "" })).color)
      assert.isFalse((yield* read({ NO_COLOR: "1" })).color)
      assert.isFalse((yield* read({}, { stdoutIsTTY: false })).color)
    }))

  it.effect("prompts only with terminals on both ends and outside CI", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* read({})).interactive)
      assert.isFalse((yield* read({ CI: "true" })).interactive)
      assert.isTrue((yield* read({ CI: "false" })).interactive)
      assert.isFalse((yield* read({}, { stdinIsTTY: false })).interactive)
    }))

  it.effect("a browser is likely with a display and without SSH", () =>
    Effect.gen(function*() {
      assert.isFalse((yield* read({})).displayLikely)
      assert.isTrue((yield* read({ DISPLAY: ":0" })).displayLikely)
      assert.isFalse((yield* read({ DISPLAY: ":0", SSH_CONNECTION: "1.2.3.4 5 6.7.8.9 22" })).displayLikely)
      assert.isTrue((yield* read({}, { platform: "darwin" })).displayLikely)
    }))

  it.effect("SUBAUTH_HOME, CODEX_HOME, issuer, backend and insecure http from the environment", () =>
    Effect.gen(function*() {
      const s = yield* read({
        SUBAUTH_HOME: "/h",
        CODEX_HOME: "/c",
        SUBAUTH_ISSUER: "http://127.0.0.1:1",
        SUBAUTH_CODEX_URL: "http://127.0.0.1:2/backend-api/codex",
        SUBAUTH_ALLOW_INSECURE_HTTP: "1"
      })
      assert.strictEqual(s.home, "/h")
      assert.strictEqual(s.codexHome, "/c")
      assert.deepStrictEqual(s.issuer, Option.some("http://127.0.0.1:1"))
      assert.deepStrictEqual(s.codexUrl, Option.some("http://127.0.0.1:2/backend-api/codex"))
      assert.isTrue(s.allowInsecureHttp)
      assert.isFalse((yield* read({ SUBAUTH_ALLOW_INSECURE_HTTP: "0" })).allowInsecureHttp)
    }))

  it.effect("SUBAUTH_ALLOW_INSECURE_HTTP is read strictly: the words Config.boolean takes, else an error, never a guess", () =>
    Effect.gen(function*() {
      for (const on of ["1", "true", "TRUE", "yes", "on", "y"]) assert.isTrue((yield* read({ SUBAUTH_ALLOW_INSECURE_HTTP: on })).allowInsecureHttp, on)
      for (const off of ["", "0", "false", "no", "NO", "off", "n"]) assert.isFalse((yield* read({ SUBAUTH_ALLOW_INSECURE_HTTP: off })).allowInsecureHttp, off)
      assert.isFalse((yield* read({})).allowInsecureHttp)
      const bogus = yield* Effect.flip(read({ SUBAUTH_ALLOW_INSECURE_HTTP: "bogus" }))
      assert.include(bogus.toString(), "SUBAUTH_ALLOW_INSECURE_HTTP")
      assert.include(bogus.toString(), "say true or false")
      assert.match((yield* read({})).home, /\.subauth$/)
    }))

  it.effect("SUBAUTH_LOG takes the words the README uses, in any case; anything else is an error", () =>
    Effect.gen(function*() {
      const level = (value: string) =>
        Effect.either(Settings.logLevel.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SUBAUTH_LOG", value]])))))
      for (const [value, expected] of [["debug", "DEBUG"], ["warning", "WARN"], ["WARN", "WARN"], ["Info", "INFO"], ["none", "OFF"]] as const) {
        const read = yield* level(value)
        assert.isTrue(read._tag === "Right" && read.right.label === expected, `${value}: ${JSON.stringify(read)}`)
      }
      assert.strictEqual((yield* level("loud"))._tag, "Left")
    }))
})
