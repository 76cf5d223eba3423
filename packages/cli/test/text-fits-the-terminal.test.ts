/**
 * What the CLI prints fits the terminal it prints on: prose wrapped between
 * words at its width (at most 100 columns), a status line cut to it and drawn
 * again when the terminal is resized; off a terminal, one paragraph a line.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Consent from "@subauth/core/Consent"
import * as LoginUI from "@subauth/core/LoginUI"
import { DateTime, Effect, Layer, Option } from "effect"
import * as TerminalUi from "../src/internal/terminalUi.js"
import { MAX_WIDTH, visibleLength, wrap } from "../src/internal/wrap.js"
import * as Output from "../src/Output.js"
import * as Settings from "../src/Settings.js"

const settings = (stderrIsTTY: boolean): Settings.Service => ({
  home: "/nonexistent",
  codexHome: "/nonexistent",
  issuer: Option.none(),
  codexUrl: Option.none(),
  allowInsecureHttp: false,
  interactive: false,
  color: stderrIsTTY,
  stderrIsTTY,
  stdoutIsTTY: stderrIsTTY,
  displayLikely: false,
  platform: "linux"
})

/** The CLI's login UI on a terminal of `columns` (none: not a terminal); what it wrote to stderr, and a resize. */
const terminal = (columns: number | undefined) => {
  let stderr = ""
  let width = columns
  let resized: (() => void) | undefined
  const output = Output.make({ stdout: () => {}, stderr: (t) => void (stderr += t) }, {
    color: columns !== undefined,
    stderrIsTTY: columns !== undefined,
    terminals: {
      stdoutColumns: () => width,
      stderrColumns: () => width,
      onResize: (listener) => {
        resized = listener
        return () => void (resized = undefined)
      }
    }
  })
  const layer = TerminalUi.layer(() => Effect.succeed(Option.none())).pipe(
    Layer.provide(Layer.mergeAll(Layer.succeed(Output.Output, output), Layer.succeed(Settings.Settings, settings(columns !== undefined))))
  )
  return {
    layer,
    stderr: () => stderr,
    resize: (to: number) => {
      width = to
      resized?.()
    }
  }
}

// eslint-disable-next-line no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*[mAJK]/g, "")
const words = (text: string) => text.split(/\s+/).filter((w) => w !== "")

const showTerms = (ui: ReturnType<typeof terminal>) =>
  Effect.gen(function*() {
    const login = yield* LoginUI.LoginUI
    yield* login.show({ _tag: "Notice", text: Consent.NOTICE })
    yield* login.show({ _tag: "Disclaimer", text: Consent.DISCLAIMER })
    return plain(ui.stderr())
  }).pipe(Effect.provide(ui.layer), Effect.scoped)

describe("the terms notice", () => {
  for (const columns of [60, 80, 200]) {
    it.effect(`at ${columns} columns: wrapped between words, no line wider than the terminal (or ${MAX_WIDTH})`, () =>
      Effect.gen(function*() {
        const ui = terminal(columns)
        const shown = yield* showTerms(ui)
        const limit = Math.min(columns, MAX_WIDTH)
        for (const line of shown.split("\n")) {
          // Only a word wider than the terminal (none here: the addresses are 43 characters) may overflow.
          assert.isAtMost(visibleLength(line), limit, `too wide at ${columns} columns: ${JSON.stringify(line)}`)
        }
        // Every word whole, in order: none was split across lines.
        assert.deepStrictEqual(words(shown), words(`${Consent.NOTICE}\n${Consent.DISCLAIMER}`))
        assert.include(shown, Consent.TERMS_OF_USE_URL)
        assert.include(shown, Consent.USAGE_POLICIES_URL)
        // A continued item goes on under its text.
        const lines = shown.split("\n")
        const item = lines.findIndex((line) => line.startsWith("- subauth is not made"))
        assert.match(lines[item + 1]!, /^ {2}\S/)
      }))
  }

  it.effect("off a terminal: not wrapped, one paragraph a line", () =>
    Effect.gen(function*() {
      const ui = terminal(undefined)
      const shown = yield* showTerms(ui)
      assert.strictEqual(shown, `${Consent.NOTICE}\n\n${Consent.DISCLAIMER}\n\n`)
    }))
})

describe("a terminal that says it has no columns (0: some docker exec -t, serial consoles)", () => {
  it.effect("its width is unknown: prose is not wrapped (not a word a line)", () =>
    Effect.gen(function*() {
      const shown = yield* showTerms(terminal(0))
      assert.strictEqual(shown, `${Consent.NOTICE}\n\n${Consent.DISCLAIMER}\n\n`)
    }))
})

describe("the waiting line", () => {
  const waiting = Effect.gen(function*() {
    const login = yield* LoginUI.LoginUI
    yield* login.show({ _tag: "Waiting", what: "approval of the code", deadline: DateTime.unsafeMake(Date.now() + 899_000) })
    yield* Effect.sleep("30 millis")
  })

  /** The line as last drawn: what follows the last carriage return, without escape sequences. */
  const lastLine = (stderr: string) => plain(stderr.slice(stderr.lastIndexOf("\r") + 1))

  it.live("fits a 60-column terminal, where the whole line would not (it would leave a copy at every redraw)", () =>
    Effect.gen(function*() {
      const ui = terminal(60)
      yield* waiting.pipe(Effect.provide(ui.layer), Effect.scoped)
      const drawn = ui.stderr().split("\r").map(plain).filter((line) => line.includes("left"))
      assert.isNotEmpty(drawn)
      for (const line of drawn) assert.isAtMost(visibleLength(line), 59, line)
      assert.match(drawn[0]!, /^\S Waiting for approval of the code · \d+:\d\d left$/)
    }))

  it.live("is whole on a wide terminal", () =>
    Effect.gen(function*() {
      const ui = terminal(140)
      yield* waiting.pipe(Effect.provide(ui.layer), Effect.scoped)
      assert.match(ui.stderr(), /Waiting for approval of the code · \d+:\d\d left · .*Ctrl-C to cancel/)
    }))

  it.live("is drawn again when the terminal is resized, over the rows the wider line now takes", () =>
    Effect.gen(function*() {
      const ui = terminal(110)
      yield* Effect.gen(function*() {
        yield* waiting
        assert.include(lastLine(ui.stderr()), "Ctrl-C to cancel")
        const before = ui.stderr().length
        ui.resize(40)
        const redraw = ui.stderr().slice(before)
        // The 70-column line now takes two rows of a 40-column terminal: up one, then clear to the end of the screen.
        assert.include(redraw, "\r\x1b[1A\x1b[J")
        assert.isAtMost(visibleLength(lastLine(redraw)), 39)
      }).pipe(Effect.provide(ui.layer), Effect.scoped)
    }))
})

describe("wrap", () => {
  it("continues a line under a label, a bullet or a column, and keeps long words whole", () => {
    assert.strictEqual(wrap("note: one two three four five six seven", 30), "note: one two three four five\n      six seven")
    assert.strictEqual(wrap("- alpha beta gamma delta epsilon zeta eta", 24), "- alpha beta gamma delta\n  epsilon zeta eta")
    assert.strictEqual(wrap("  store      file (a b c d e f g h i j k l)", 34), "  store      file (a b c d e f g h\n             i j k l)")
    const url = "https://openai.com/policies/terms-of-use/"
    assert.strictEqual(wrap(`see ${url} now`, 20), `see\n${url}\nnow`)
  })
})
