import * as Browser from "@subauth/core/Browser"
import * as BrowserLogin from "@subauth/core/BrowserLogin"
import * as Consent from "@subauth/core/Consent"
import * as DeviceLogin from "@subauth/core/DeviceLogin"
import * as IdTokenVerifier from "@subauth/core/IdTokenVerifier"
import * as Login from "@subauth/core/Login"
import * as PasteLogin from "@subauth/core/PasteLogin"
import * as Printable from "@subauth/core/Printable"
import * as SecureRandom from "@subauth/core/SecureRandom"
import * as NodeBrowser from "@subauth/node/NodeBrowser"
import * as NodeCallbackServer from "@subauth/node/NodeCallbackServer"
import * as NodeTokenStore from "@subauth/node/NodeTokenStore"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ExitCode, fallbackNote, UsageError } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as UsageRecords from "../internal/usageRecords.js"
import * as TerminalUi from "../internal/terminalUi.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export interface Args extends TokenArgs {
  readonly device: boolean
  readonly browser: boolean
  readonly paste: boolean
  readonly port: Option.Option<number>
  readonly openBrowser: boolean
  readonly acceptTerms: boolean
  readonly verbose: boolean
}

const methodOf = (args: Args) => {
  const chosen = (["device", "browser", "paste"] as const).filter((m) => args[m])
  return chosen.length > 1
    ? Effect.fail(
      new UsageError({ message: `choose one of --device, --browser and --paste (got ${chosen.map((c) => `--${c}`).join(" and ")})` })
    )
    : Effect.succeed(chosen[0])
}

export const run = (args: Args, readLine: TerminalUi.ReadLine) =>
  Effect.flatMap(methodOf(args), (explicit) => signIn(args, explicit, readLine))

const signIn = (args: Args, explicit: "device" | "browser" | "paste" | undefined, readLine: TerminalUi.ReadLine) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const output = yield* Output
    const method = explicit ?? (settings.displayLikely ? "browser" : "device")
    const browserOptions: BrowserLogin.Options = {
      openBrowser: args.openBrowser,
      ...Option.match(args.port, { onNone: () => ({}), onSome: (port) => ({ ports: [port] as const }) })
    }
    const flow = method === "browser"
      ? BrowserLogin.layer(browserOptions)
      : method === "paste"
      ? PasteLogin.layer({ openBrowser: args.openBrowser })
      : explicit === "device"
      ? DeviceLogin.layer()
      : DeviceLogin.layerWithBrowserFallback({}, browserOptions)

    const result = yield* Login.login({ profile: args.profile, acceptTerms: args.acceptTerms, verbose: args.verbose }).pipe(
      Effect.provide(flow)
    )
    // The limits last seen were an earlier sign-in's.
    yield* UsageRecords.forget(settings, result.profile)
    const info = yield* NodeTokenStore.StoreInfo
    const t = result.tokens
    if (args.json) {
      yield* output.json({
        signedIn: true,
        profile: result.profile,
        method: result.method,
        accountId: Option.getOrNull(t.accountId),
        email: Option.getOrNull(t.email),
        plan: Option.getOrNull(t.planType),
        expiresAt: DateTime.formatIso(t.expiresAt),
        claimsVerified: t.claimsVerified,
        store: { kind: info.kind, location: info.location },
        replaced: result.replaced
      })
    } else {
      const { style } = output
      yield* output.out(
        `${style.green("Signed in")} as ${style.bold(Printable.line(Option.getOrElse(t.email, () => "(no email)")))}` +
          `${Option.match(t.planType, { onNone: () => "", onSome: (p) => ` (${Printable.line(p)})` })}, profile ${result.profile}.`
      )
      yield* output.info(
        `Tokens are in the ${info.kind} store (${info.location})` +
          `${t.claimsVerified ? "; the sign-in was verified against the issuer's keys" : ""}.`
      )
      const note = Option.orElse(fallbackNote(info, settings.platform), () => info.note)
      if (Option.isSome(note)) yield* output.info(style.yellow(`note: ${note.value}`))
      if (result.replaced === "revoke-failed") {
        yield* output.info(style.yellow("warning: the tokens this login replaced could not be revoked"))
      }
    }
    return ExitCode.Ok
  }).pipe(
    Effect.provide(
      Layer.unwrapEffect(Effect.map(Settings, (settings) =>
        Layer.mergeAll(
          Consent.layer.pipe(Layer.provide(Layers.consentRecords(settings))),
          IdTokenVerifier.layer(),
          NodeCallbackServer.layer,
          args.openBrowser ? NodeBrowser.layer : Browser.layerNoop,
          SecureRandom.layer
        ).pipe(
          Layer.provideMerge(TerminalUi.layer(readLine)),
          Layer.provideMerge(Layers.tokens(args.store, settings))
        )))
    )
  )
