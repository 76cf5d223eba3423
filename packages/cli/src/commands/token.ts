import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Provider from "@subauth/core/Provider"
import * as TokenManager from "@subauth/core/TokenManager"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { ExitCode } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export interface Args extends TokenArgs {
  readonly refresh: boolean
}

// Node's HTTP client (node:http, node:https), loaded by the first request: `subauth token` sends none while the
// stored token is valid, and scripts call it in loops.
const httpClientOnDemand = Effect.gen(function*() {
  const scope = yield* Effect.scope
  const client = yield* Effect.cached(
    Layers.httpClient.pipe(Layer.buildWithScope(scope), Effect.map(Context.get(HttpClient.HttpClient)))
  )
  return HttpClient.make((request) => Effect.flatMap(client, (c) => c.execute(request)))
})

// The token manager and what it needs, provided as values rather than built as layers (see status.ts).
const services = (args: Args) =>
  <A, E, R>(program: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const settings = yield* Settings
      const stores = yield* Layers.makeStore(args.store, settings)
      const provider = yield* Provider.make(Layers.providerOptions(settings))
      const manager = yield* TokenManager.make({ profile: args.profile }).pipe(
        Effect.provide(stores),
        Effect.provideService(Provider.Provider, provider),
        Effect.provideService(HttpClient.HttpClient, yield* httpClientOnDemand)
      )
      return yield* program.pipe(Effect.provide(stores), Effect.provideService(TokenManager.TokenManager, manager))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))

export const run = (args: Args) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const output = yield* Output
    const manager = (yield* TokenManager.TokenManager).forProfile(args.profile)
    const current = yield* manager.get
    // --refresh: renew now, as a rejected token would be.
    const tokens = args.refresh ? yield* manager.recover(current.accessToken) : current
    if (settings.stdoutIsTTY) {
      yield* output.info(output.style.yellow("This is a secret: anyone who has it can use your subscription until it expires."))
    }
    if (args.json) {
      yield* output.json({
        accessToken: Redacted.value(tokens.accessToken),
        expiresAt: DateTime.formatIso(tokens.expiresAt),
        obtainedAt: DateTime.formatIso(tokens.obtainedAt),
        accountId: Option.getOrNull(tokens.accountId)
      })
    } else {
      yield* output.out(Redacted.value(tokens.accessToken))
    }
    if (args.refresh) yield* output.info(`Refreshed; the new token is valid until ${DateTime.formatIso(tokens.expiresAt)}.`)
    return ExitCode.Ok
  }).pipe(services(args))
