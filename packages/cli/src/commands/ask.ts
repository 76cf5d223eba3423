import * as RateLimits from "@subauth/core/RateLimits"
import * as SubscriptionLLM from "@subauth/core/SubscriptionLLM"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { ExitCode, UsageError } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as UsageText from "../internal/usageText.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export interface Args extends TokenArgs {
  readonly prompt: Option.Option<string>
  readonly model: Option.Option<string>
  readonly system: Option.Option<string>
}

export const run = (args: Args, stdin: Effect.Effect<Option.Option<string>>) =>
  Effect.gen(function*() {
    const output = yield* Output
    const prompt = Option.isSome(args.prompt) ? args.prompt : Option.filter(yield* stdin, (s) => s.trim() !== "")
    if (Option.isNone(prompt)) {
      return yield* new UsageError({ message: "give a prompt as an argument, or pipe one in: echo \"hi\" | subauth ask" })
    }
    const request: SubscriptionLLM.Request = {
      input: [SubscriptionLLM.userMessage(prompt.value)],
      ...Option.match(args.model, { onNone: () => ({}), onSome: (model) => ({ model }) }),
      ...Option.match(args.system, { onNone: () => ({}), onSome: (system) => ({ system }) })
    }
    // Near a limit: said on stderr after the answer (stdout is the answer), every window above 90 %.
    const warnNearLimit = Effect.gen(function*() {
      const last = yield* SubscriptionLLM.lastRateLimits
      if (Option.isNone(last)) return
      const now = yield* DateTime.now
      for (const named of RateLimits.nearLimit(last.value.limits)) {
        yield* output.info(`${output.style.yellow("warning:")} ${UsageText.nearLimitWarning(named, now)} (see subauth usage)`)
      }
    })
    if (args.json) {
      const result = yield* SubscriptionLLM.generate(request)
      yield* output.json({
        text: result.text,
        model: result.model ?? null,
        responseId: result.responseId,
        usage: result.usage ?? null,
        toolCalls: result.toolCalls
      })
      yield* warnNearLimit
      return ExitCode.Ok
    }
    let wrote = false
    let endsWithNewline = true
    yield* SubscriptionLLM.stream(request).pipe(
      Stream.runForEach((event) => {
        if (event._tag !== "TextDelta" || event.delta === "") return Effect.void
        wrote = true
        endsWithNewline = event.delta.endsWith("\n")
        return output.write(event.delta)
      })
    )
    if (wrote && !endsWithNewline) yield* output.write("\n")
    yield* warnNearLimit
    return ExitCode.Ok
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Settings, (s) => Layers.llm(args, s)))))
