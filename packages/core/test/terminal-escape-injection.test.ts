/**
 * Escape sequences in text from outside (a redirect's `error_description`,
 * pasted input, the issuer's error codes and descriptions, the backend's
 * error messages) never reach an error's message or fields: what the CLI
 * prints and the logs hold is one printable line.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Either } from "effect"
import { classifyAnswer, streamFailure } from "../src/internal/answers.js"
import { validateCallback } from "../src/internal/authorize.js"
import * as PasteLogin from "../src/PasteLogin.js"
import * as Printable from "../src/Printable.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"

// A window title change, a screen clear, a BEL, a one-character CSI (C1) and a bidi override.
const EVIL = "x\x1b]0;pwned\x07\x1b[2J\x1b[1;1H\u009b31m\u202edone"
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

const clean = (text: string | undefined, what: string) => {
  assert.isDefined(text, what)
  assert.notMatch(text!, CONTROL, `${what}: ${JSON.stringify(text)}`)
}

describe("terminal escape injection", () => {
  it("Printable.line and Printable.block remove control characters", () => {
    assert.strictEqual(Printable.line(EVIL), "x]0;pwned[2J[1;1H31mdone")
    assert.strictEqual(Printable.line("a\tb\r\nc"), "a b  c")
    assert.strictEqual(Printable.block("a\tb\r\nc\rd\x1b[2J"), "a\tb\nc\nd[2J")
    assert.strictEqual(Printable.line("plain text, ünïcödé ✓"), "plain text, ünïcödé ✓")
    assert.isTrue(Printable.isLine("ABCD-EFGH"))
    assert.isFalse(Printable.isLine("ABCD\x1b[2J"))
  })

  it("the callback's error and error_description", () => {
    const params = new URLSearchParams({ error: `access_denied${EVIL}`, error_description: EVIL, state: "s" })
    const result = validateCallback(params, "s")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) clean(result.left.message, "message")
    const noDescription = validateCallback(new URLSearchParams({ error: EVIL, state: "s" }), "s")
    if (Either.isLeft(noDescription)) clean(noDescription.left.message, "message without a description")
  })

  it("pasted input", () => {
    const pasted = `http://127.0.0.1:1455/auth/callback?error=x&error_description=${encodeURIComponent(EVIL)}&state=s`
    const result = PasteLogin.parsePastedRedirect(pasted, "s")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) clean(result.left.message, "message")
  })

  it("the issuer's error codes and descriptions", () => {
    for (const status of [400, 401, 500]) {
      const body = { error: { code: `refresh_token_${EVIL}`, message: EVIL } }
      const error = TokenEndpoint.classifyRefreshFailure(
        { status, text: JSON.stringify(body), json: body, headers: {} },
        { profile: "default", secrets: [] }
      )
      clean(error.message, `${status} message`)
      clean(error.description, `${status} description`)
      if (error._tag !== "TransportError") clean(error.code, `${status} code`)
    }
    const oauth = { error: `invalid_request${EVIL}`, error_description: EVIL }
    const error = TokenEndpoint.classifyRefreshFailure(
      { status: 400, text: JSON.stringify(oauth), json: oauth, headers: {} },
      { profile: "default", secrets: [] }
    )
    clean(error.message, "OAuth error message")
  })

  it("the backend's error messages, in answers and in the stream", () => {
    const now = DateTime.toEpochMillis(DateTime.unsafeMake("2026-01-01T00:00:00Z"))
    for (const status of [400, 403, 429, 500]) {
      const body = { error: { message: EVIL, code: `bad${EVIL}`, type: "x" } }
      const outcome = classifyAnswer("responses", { status, json: body, text: JSON.stringify(body) }, now)
      assert.notStrictEqual(outcome, "Unauthorized")
      if (outcome !== "Unauthorized") clean(outcome.message, `${status} message`)
    }
    const text = classifyAnswer("responses", { status: 502, json: undefined, text: `<html>${EVIL}</html>` }, now)
    if (text !== "Unauthorized") clean(text.message, "a text body")
    const limit = classifyAnswer("responses", {
      status: 429,
      json: { error: { type: "usage_limit_reached", plan_type: `plus${EVIL}`, message: EVIL } },
      text: ""
    }, now)
    if (limit !== "Unauthorized") clean(limit.message, "a usage limit")
    clean(streamFailure({ code: `server_error${EVIL}`, message: EVIL }, now).message, "response.failed")
  })
})
