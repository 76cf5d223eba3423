import * as Printable from "@subauth/core/Printable"
import * as SubscriptionLLM from "@subauth/core/SubscriptionLLM"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ExitCode } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export type Args = TokenArgs

export const run = (args: Args) =>
  Effect.gen(function*() {
    const output = yield* Output
    const list = yield* SubscriptionLLM.models
    if (args.json) {
      yield* output.json(list)
      return ExitCode.Ok
    }
    // The backend's names, as one printable line each.
    const rows = list.models.map((m) => ({ ...m, slug: Printable.line(m.slug), displayName: Printable.line(m.displayName) }))
    const width = Math.max(...rows.map((m) => m.slug.length), 4)
    for (const model of rows) {
      const context = model.contextWindow !== undefined ? `${Math.round(model.contextWindow / 1000)}k context` : ""
      yield* output.out(`${model.slug.padEnd(width)}  ${model.displayName}${context ? `  ${output.style.dim(context)}` : ""}`)
    }
    if (list.source === "bundled") {
      yield* output.info(output.style.yellow("note: the backend's list could not be fetched; this is the list bundled with subauth"))
    }
    return ExitCode.Ok
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Settings, (s) => Layers.llm(args, s)))))
