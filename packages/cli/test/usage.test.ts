/**
 * `subauth usage`, the limits `status` shows, and the near-limit warning of
 * `ask`, in-process against the fake issuer and the fake Codex backend over
 * 127.0.0.1, with real files in a temporary SUBAUTH_HOME.
 */
import { assert, describe, it } from "@effect/vitest"
import { FakeCodexBackend, FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { DateTime, Effect } from "effect"
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import * as UsageText from "../src/internal/usageText.js"
import { makeRunner, tempHome } from "./support.js"

const setup = Effect.gen(function*() {
  const oauth = yield* FakeOAuthServer.make({ devicePendingPolls: 0 })
  const backend = yield* FakeCodexBackend.make().pipe(Effect.provideService(FakeOAuthServer.FakeOAuthServer, oauth))
  const home = yield* tempHome
  const run = makeRunner({ home, issuer: oauth.url, codexUrl: backend.baseUrl })
  assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
  const token = (yield* run("token", "--store", "file")).stdout.trim()
  return { backend, home, run, token }
})

const usage = {
  // 2 h 10 min and half a minute: "2 h 10 min" whatever the milliseconds the request takes.
  primary: { usedPercent: 12, windowMinutes: 300, resetsInSeconds: 7830 },
  secondary: { usedPercent: 41.5, windowMinutes: 10080, resetsInSeconds: 3 * 86400 + 4 * 3600 + 30 },
  plan: "plus",
  credits: { hasCredits: true, unlimited: false, balance: "5.39" },
  others: [{ id: "codex_other", name: "Spark", primary: { usedPercent: 95, windowMinutes: 300, resetsInSeconds: 630 } }]
} satisfies FakeCodexBackend.FakeUsage

const windowKeys = ["usedPercent", "windowMinutes", "resetsAt", "resetsInSeconds"]

describe("subauth usage (in-process)", () => {
  it.live("text: each window with how much is used and when it resets, other limits, credits and plan; no model request", () =>
    Effect.gen(function*() {
      const { backend, run, token } = yield* setup
      yield* backend.setUsage(usage)
      const result = yield* run("usage", "--store", "file")
      assert.strictEqual(result.code, 0, result.stderr)
      const lines = result.stdout.trimEnd().split("\n")
      assert.match(lines[0]!, /^5-hour window: 12 % used, resets in 2 h 10 min \(at ((Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?\d\d:\d\d\)$/)
      assert.match(lines[1]!, /^Weekly window: 41\.5 % used, resets in 3 d 4 h \(at (Sun|Mon|Tue|Wed|Thu|Fri|Sat) \d\d:\d\d\)$/)
      assert.match(lines[2]!, /^Spark 5-hour window: 95 % used, resets in 10 min \(at ((Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?\d\d:\d\d\)$/)
      assert.deepStrictEqual(lines.slice(3), ["Credits: balance 5.39", "Plan: plus"])
      assert.lengthOf((yield* backend.requests).filter((r) => r.endpoint === "responses"), 0)
      assert.notInclude(result.stdout + result.stderr, token)
    }).pipe(Effect.scoped))

  it.live("--json: one document with fixed keys, null for what was not reported", () =>
    Effect.gen(function*() {
      const { backend, run, token } = yield* setup
      yield* backend.setUsage(usage)
      const result = yield* run("usage", "--store", "file", "--json")
      assert.strictEqual(result.code, 0, result.stderr)
      const doc = JSON.parse(result.stdout)
      assert.deepStrictEqual(Object.keys(doc), ["profile", "fetchedAt", "plan", "limitReached", "primary", "secondary", "credits", "codeReview", "others"])
      assert.strictEqual(doc.profile, "default")
      assert.strictEqual(doc.plan, "plus")
      assert.strictEqual(doc.limitReached, false)
      assert.deepStrictEqual(Object.keys(doc.primary), windowKeys)
      assert.strictEqual(doc.primary.usedPercent, 12)
      assert.strictEqual(doc.primary.windowMinutes, 300)
      assert.isTrue(doc.primary.resetsInSeconds > 7820 && doc.primary.resetsInSeconds <= 7830, String(doc.primary.resetsInSeconds))
      assert.strictEqual(doc.secondary.windowMinutes, 10080)
      assert.deepStrictEqual(doc.credits, { hasCredits: true, unlimited: false, balance: "5.39" })
      assert.isNull(doc.codeReview)
      assert.deepStrictEqual(doc.others.map((o: any) => Object.keys(o)), [["id", "name", "primary", "secondary"]])
      assert.deepStrictEqual([doc.others[0].id, doc.others[0].name, doc.others[0].secondary], ["codex_other", "Spark", null])

      yield* backend.setUsage({})
      const empty = JSON.parse((yield* run("usage", "--store", "file", "--json")).stdout)
      assert.deepStrictEqual(
        [empty.plan, empty.primary, empty.secondary, empty.credits, empty.codeReview, empty.others],
        [null, null, null, null, null, []]
      )
      assert.notInclude(result.stdout + result.stderr, token)
    }).pipe(Effect.scoped))

  it.live("failures: the endpoint down is exit 1 with what happened; not signed in is exit 3", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup
      yield* backend.inject({ endpoint: "usage", fault: FakeHttp.malformedJson(200) })
      const broken = yield* run("usage", "--store", "file")
      assert.strictEqual(broken.code, 1)
      assert.include(broken.stderr, "not JSON")
      assert.strictEqual(broken.stdout, "")
      const other = yield* run("usage", "--store", "file", "--profile", "nobody")
      assert.strictEqual(other.code, 3)
      assert.include(other.stderr, "subauth login")
    }).pipe(Effect.scoped))
})

describe("the last limits seen, in status (in-process)", () => {
  it.live("status shows the snapshot the last ask saw, how old it is; --json has it; the file is private", () =>
    Effect.gen(function*() {
      const { backend, home, run, token } = yield* setup
      const before = yield* run("status", "--store", "file")
      assert.include(before.stdout, "  usage      none seen yet (subauth usage asks)")
      assert.isNull(JSON.parse((yield* run("status", "--store", "file", "--json")).stdout).usage)

      assert.strictEqual((yield* run("ask", "--store", "file", "hi")).code, 0)
      const file = join(home, "usage", "default.json")
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      assert.strictEqual(statSync(join(home, "usage")).mode & 0o777, 0o700)
      const status = yield* run("status", "--store", "file")
      assert.include(status.stdout, "  usage      5-hour 12.5 %, weekly 40 % (seen just now)")
      const doc = JSON.parse((yield* run("status", "--store", "file", "--json")).stdout).usage
      assert.deepStrictEqual(Object.keys(doc), ["seenAt", "ageSeconds", "source", "plan", "limitReached", "primary", "secondary", "credits", "codeReview", "others"])
      assert.strictEqual(doc.source, "headers")
      assert.strictEqual(doc.primary.usedPercent, 12.5)
      assert.isAtMost(doc.ageSeconds, 5)

      // `usage` leaves what it read for status too; another profile has its own.
      yield* backend.setUsage(usage)
      assert.strictEqual((yield* run("usage", "--store", "file")).code, 0)
      const after = yield* run("status", "--store", "file")
      assert.include(after.stdout, "  usage      5-hour 12 %, weekly 41.5 %, Spark 5-hour 95 % (seen just now)")
      assert.strictEqual(JSON.parse((yield* run("status", "--store", "file", "--json")).stdout).usage.source, "usage")
      assert.include((yield* run("status", "--store", "file", "--profile", "work")).stdout, "Not signed in")
      for (const output of [before, status, after]) assert.notInclude(output.stdout + output.stderr, token)
    }).pipe(Effect.scoped))

  it.live("a damaged snapshot reads as none", () =>
    Effect.gen(function*() {
      const { home, run } = yield* setup
      assert.strictEqual((yield* run("ask", "--store", "file", "hi")).code, 0)
      yield* Effect.promise(() => import("node:fs/promises").then((fs) => fs.writeFile(join(home, "usage", "default.json"), "{not json")))
      const status = yield* run("status", "--store", "file")
      assert.strictEqual(status.code, 0)
      assert.include(status.stdout, "none seen yet")
    }).pipe(Effect.scoped))

  it.live("an earlier sign-in's limits are forgotten at sign-out and at a new sign-in", () =>
    Effect.gen(function*() {
      const { home, run } = yield* setup
      const file = join(home, "usage", "default.json")
      assert.strictEqual((yield* run("ask", "--store", "file", "hi")).code, 0)
      assert.isTrue(existsSync(file))
      assert.strictEqual((yield* run("logout", "--store", "file")).code, 0)
      assert.isFalse(existsSync(file))
      assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
      assert.include((yield* run("status", "--store", "file")).stdout, "none seen yet")
      // A new sign-in over a live one (another account, maybe) forgets them too.
      assert.strictEqual((yield* run("ask", "--store", "file", "hi")).code, 0)
      assert.include((yield* run("status", "--store", "file")).stdout, "(seen just now)")
      assert.strictEqual((yield* run("login", "--device", "--accept-terms", "--store", "file")).code, 0)
      assert.include((yield* run("status", "--store", "file")).stdout, "none seen yet")
    }).pipe(Effect.scoped))

  it.live("a snapshot file far larger than a snapshot is not read", () =>
    Effect.gen(function*() {
      const { home, run } = yield* setup
      assert.strictEqual((yield* run("ask", "--store", "file", "hi")).code, 0)
      const file = join(home, "usage", "default.json")
      assert.include((yield* run("status", "--store", "file")).stdout, "(seen just now)")
      // Still a valid snapshot, padded past the limit with whitespace JSON allows.
      yield* Effect.promise(() =>
        import("node:fs/promises").then(async (fs) => fs.writeFile(file, `${(await fs.readFile(file, "utf8")).trim()}${" ".repeat(70 * 1024)}\n`))
      )
      const status = yield* run("status", "--store", "file")
      assert.strictEqual(status.code, 0)
      assert.include(status.stdout, "none seen yet")
    }).pipe(Effect.scoped))
})

describe("ask near a limit (in-process)", () => {
  it.live("a window above 90 %: a warning on stderr after the answer; stdout is only the answer, --json too", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup
      yield* backend.setUsage({
        primary: { usedPercent: 93, windowMinutes: 300, resetsInSeconds: 630 },
        secondary: { usedPercent: 40, windowMinutes: 10080 },
        others: [{ id: "codex_other", name: "Spark", primary: { usedPercent: 10, windowMinutes: 300 }, secondary: { usedPercent: 90.5, windowMinutes: 10080 } }]
      })
      const result = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "hi from the fake backend\n")
      assert.match(result.stderr, /^warning: the 5-hour window is 93 % used; it resets in 10 min \(at ((Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?\d\d:\d\d\) \(see subauth usage\)$/m)
      assert.include(result.stderr, "warning: the Spark weekly window is 90.5 % used (see subauth usage)")
      assert.notInclude(result.stderr, "40 %")
      assert.notInclude(result.stderr, "10 %")
      const json = yield* run("ask", "--store", "file", "--json", "hi")
      assert.strictEqual(JSON.parse(json.stdout).text, "hi from the fake backend")
      assert.include(json.stderr, "warning: the 5-hour window is 93 % used")
    }).pipe(Effect.scoped))

  it.live("at 90 % or below: no warning", () =>
    Effect.gen(function*() {
      const { backend, run } = yield* setup
      yield* backend.setUsage({ primary: { usedPercent: 90, windowMinutes: 300 }, secondary: { usedPercent: 89.9, windowMinutes: 10080 } })
      const result = yield* run("ask", "--store", "file", "hi")
      assert.strictEqual(result.code, 0, result.stderr)
      assert.notInclude(result.stderr, "warning")
      assert.strictEqual(result.stderr, "")
    }).pipe(Effect.scoped))
})

describe("when a window resets, in words", () => {
  it("a time alone only on today's date; a weekday within a week; else the date (local time)", () => {
    // Monday 30 November 2026, 09:53 here.
    const now = new Date(2026, 10, 30, 9, 53)
    const at = (minutes: number) => DateTime.unsafeMake(now.getTime() + minutes * 60_000)
    const clock = (minutes: number) => UsageText.clock(at(minutes), DateTime.unsafeMake(now.getTime()))
    assert.strictEqual(clock(120), "11:53")
    assert.strictEqual(clock(14 * 60), "23:53")
    assert.strictEqual(clock(23 * 60 + 59), "Tue 09:52", "23 h 59 min away is not a time of today")
    assert.strictEqual(clock(3 * 24 * 60), "Thu 09:53")
    assert.strictEqual(clock(10 * 24 * 60), "2026-12-10 09:53")
  })
})
