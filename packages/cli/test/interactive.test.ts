/**
 * The device prompt in a real terminal (tmux): the countdown renders and
 * moves, and Ctrl-C ends the login cleanly (exit 130, no stack trace, no
 * tokens written). `.ci/run` installs tmux.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Consent from "@subauth/core/Consent"
import { FakeOAuthServer } from "@subauth/testing"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { tempHome } from "./support.js"

const bin = fileURLToPath(new URL("../bin/subauth.js", import.meta.url))

const tmux = (...args: ReadonlyArray<string>) => execFileSync("tmux", [...args], { encoding: "utf8" })
const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls the pane until `pattern` shows; returns the screen. */
const waitFor = (session: string, pattern: RegExp, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const screen = tmux("capture-pane", "-p", "-t", session)
      if (pattern.test(screen)) return screen
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${pattern} in:\n${screen}`)
      yield* pause(100)
    }
  })

/** `subauth login --device` in a tmux session of the given size, against a fake issuer that waits; killed with the scope. */
const deviceLogin = (name: string, columns: number, rows: number) =>
  Effect.gen(function*() {
    const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: "manual" })
    const home = yield* tempHome
    const session = `subauth-test-${name}-${process.pid}`
    const command = [
      "env -u CI",
      `HOME=${home} XDG_CACHE_HOME=${home}/cache SUBAUTH_HOME=${home}/subauth`,
      `SUBAUTH_ISSUER=${oauth.url} SUBAUTH_ALLOW_INSECURE_HTTP=1 SUBAUTH_STORE=file`,
      `${process.execPath} ${bin} login --device --accept-terms; echo EXIT=$?; sleep 60`
    ].join(" ")
    yield* Effect.acquireRelease(
      Effect.sync(() => tmux("new-session", "-d", "-s", session, "-x", String(columns), "-y", String(rows), command)),
      () => Effect.sync(() => void tmux("kill-session", "-t", session))
    )
    return { session, home }
  })

describe("interactive device login (tmux)", () => {
  it.live("the countdown renders and moves; Ctrl-C cancels cleanly", () =>
    Effect.gen(function*() {
      const { session, home } = yield* deviceLogin("countdown", 140, 40)
      const first = yield* waitFor(session, /Waiting for approval of the code · (\d+):(\d+) left · Ctrl-C to cancel/)
      assert.include(first, "never share this code")
      const left = (screen: string) => {
        const [, m, s] = /· (\d+):(\d+) left/.exec(screen)!
        return Number(m) * 60 + Number(s)
      }
      const before = left(first)
      yield* pause(2200)
      const later = yield* waitFor(session, /left · Ctrl-C/)
      assert.isBelow(left(later), before, "the countdown moves")

      tmux("send-keys", "-t", session, "C-c")
      const end = yield* waitFor(session, /EXIT=\d+/)
      assert.include(end, "EXIT=130")
      assert.include(end, "Cancelled.")
      assert.notInclude(end, "Ctrl-C to cancel", "the countdown line is cleared")
      assert.notMatch(end, /\n\s+at \S+ \(/, "no stack trace")
      assert.isFalse(existsSync(`${home}/subauth/default.json`), "no tokens written")
    }).pipe(Effect.scoped), 60_000)

  it.live("on a 60-column terminal: the terms wrapped between words, one waiting line, drawn again when narrowed", () =>
    Effect.gen(function*() {
      const { session } = yield* deviceLogin("narrow", 60, 50)
      yield* waitFor(session, /Waiting for approval of the code · \d+:\d+ left/)
      yield* pause(1200) // a few redraws
      const screen = tmux("capture-pane", "-p", "-t", session)
      const words = screen.split(/\s+/).join(" ")
      // Every word of the notice whole and in order: none was split across lines.
      assert.include(words, Consent.NOTICE.split(/\s+/).join(" "), screen)
      assert.include(words, Consent.USAGE_POLICIES_URL)
      assert.lengthOf(screen.split("\n").filter((line) => line.includes(" left")), 1, `one waiting line, not a copy per redraw:\n${screen}`)

      tmux("resize-window", "-t", session, "-x", "40")
      yield* pause(700)
      const narrowed = tmux("capture-pane", "-p", "-t", session)
      const waiting = narrowed.split("\n").filter((line) => / left|Waiting|Ctrl-C/.test(line))
      assert.lengthOf(waiting, 1, `one waiting line after the resize:\n${narrowed}`)
      assert.isAtMost(waiting[0]!.trimEnd().length, 40)
    }).pipe(Effect.scoped), 60_000)
})
