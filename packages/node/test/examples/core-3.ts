import { RateLimits, SubscriptionLLM } from "@subauth/core"
import { Console, DateTime, Effect } from "effect"

export const showLimits = Effect.gen(function*() {
  const report = yield* SubscriptionLLM.usage
  const now = yield* DateTime.now
  for (const window of RateLimits.windowsOf(report)) {
    yield* Console.log(`${window.name ?? window.family} ${window.which}: ${window.window.usedPercent} % used`)
  }
  if (RateLimits.nearLimit(report).length > 0) yield* Console.log("near a limit")
  return RateLimits.toJson(report, now) // { plan, limitReached, primary, secondary, credits, codeReview, others }
})
