import * as Login from "@subauth/core/Login"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ExitCode } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as UsageRecords from "../internal/usageRecords.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export interface Args extends TokenArgs {
  readonly revoke: boolean
}

export const run = (args: Args) =>
  Effect.gen(function*() {
    const output = yield* Output
    const result = yield* Login.logout({ profile: args.profile, revoke: args.revoke })
    yield* UsageRecords.forget(yield* Settings, args.profile)
    if (args.json) {
      yield* output.json(result)
      return ExitCode.Ok
    }
    if (!result.signedIn) {
      yield* output.out(`Profile ${result.profile} was not signed in.`)
      return ExitCode.Ok
    }
    const revoke = {
      revoked: "the sign-in was revoked at the issuer",
      failed: `the sign-in could not be revoked at the issuer (${result.revokeError ?? "unknown error"}); it ends when its tokens expire`,
      skipped: "the sign-in was not revoked (--no-revoke)"
    }[result.revoke]
    yield* output.out(`Signed out of profile ${result.profile}: tokens deleted, ${revoke}.`)
    return ExitCode.Ok
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Settings, (s) => Layers.tokens(args.store, s)))))
