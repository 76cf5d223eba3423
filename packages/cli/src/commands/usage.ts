/**
 * `subauth usage`: where the subscription's limits stand, from the backend's
 * usage endpoint (no model request is spent): each window, how much of it is
 * used and when it resets, credits, plan.
 */
import * as Printable from "@subauth/core/Printable"
import * as RateLimits from "@subauth/core/RateLimits"
import * as SubscriptionLLM from "@subauth/core/SubscriptionLLM"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ExitCode } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as UsageText from "../internal/usageText.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export type Args = TokenArgs

export const run = (args: Args) =>
  Effect.gen(function*() {
    const output = yield* Output
    const { style } = output
    const report = yield* SubscriptionLLM.usage
    const now = yield* DateTime.now
    if (args.json) {
      yield* output.json({ profile: args.profile, fetchedAt: DateTime.formatIso(report.fetchedAt), ...RateLimits.toJson(report, now) })
      return ExitCode.Ok
    }
    const lines: Array<string> = []
    const line = (named: RateLimits.NamedWindow) => {
      const text = UsageText.windowLine(named, now)
      const used = named.window.usedPercent
      return used >= 100 ? style.red(text) : used > RateLimits.NEAR_LIMIT_PERCENT ? style.yellow(text) : text
    }
    const windows = RateLimits.windowsOf(report)
    for (const named of windows) lines.push(line(named))
    for (const which of ["primary", "secondary"] as const) {
      const window = report.codeReview?.[which]
      if (window !== undefined) lines.push(line({ family: "code_review", name: "Code review", which, window }))
    }
    if (windows.length === 0) lines.push("No usage windows were reported.")
    if (report.limitReached === true) lines.push(style.red("The usage limit is reached."))
    if (report.credits !== undefined) lines.push(`Credits: ${UsageText.credits(report.credits)}`)
    lines.push(`Plan: ${report.planType !== undefined ? Printable.line(report.planType) : "(not reported)"}`)
    yield* output.out(output.wrap(lines.join("\n")))
    return ExitCode.Ok
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Settings, (s) => Layers.llm(args, s)))))
