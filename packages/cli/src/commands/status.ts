import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Consent from "@subauth/core/Consent"
import * as LoginUI from "@subauth/core/LoginUI"
import * as Printable from "@subauth/core/Printable"
import * as RateLimits from "@subauth/core/RateLimits"
import * as TokenStore from "@subauth/core/TokenStore"
import * as NodeTokenStore from "@subauth/node/NodeTokenStore"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Layers from "../internal/layers.js"
import * as UsageRecords from "../internal/usageRecords.js"
import * as UsageText from "../internal/usageText.js"
import { ExitCode, fallbackNote } from "../internal/errors.js"
import { Output } from "../Output.js"
import type { TokenArgs } from "./shared.js"
import { Settings } from "../Settings.js"

export type Args = TokenArgs

// Status only reads the consent record: a UI that shows nothing and asks nothing (not the login's, which would
// load its countdown's scheduling for nothing).
const silent: LoginUI.Service = { interactive: false, show: () => Effect.void, ask: () => Effect.succeed(Option.none()) }

/**
 * The store and the consent records, provided as values rather than built as
 * layers: `status` (like `token`) is started in loops and prompts, and
 * building and tearing down its layers (the store's, the consent records', the
 * file system's, each nested in the next) took a third of its start (14 of 45
 * ms of CPU, measured with the code cache). These constructors are what those
 * layers run.
 */
const services = (args: Args) =>
  <A, E, R>(program: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const settings = yield* Settings
      const stores = yield* Layers.makeStore(args.store, settings)
      const records = yield* Layers.makeConsentRecords(settings, { readOnly: true })
      const consent = yield* Consent.make.pipe(
        Effect.provideService(KeyValueStore.KeyValueStore, records),
        Effect.provideService(LoginUI.LoginUI, silent)
      )
      return yield* program.pipe(Effect.provide(stores), Effect.provideService(Consent.Consent, consent))
    }).pipe(Effect.provide(NodeFileSystem.layer))

export const run = (args: Args) =>
  Effect.gen(function*() {
    const output = yield* Output
    const { style } = output
    const store = yield* TokenStore.TokenStore
    const info = yield* NodeTokenStore.StoreInfo
    const tokens = yield* store.get(args.profile)
    const consent = yield* Effect.flatMap(Consent.Consent, (c) => c.get(args.profile))
    const settings = yield* Settings
    const seen = yield* UsageRecords.read(settings, args.profile)
    const now = yield* DateTime.now
    const ageMs = (snapshot: RateLimits.Snapshot) => Math.max(0, DateTime.toEpochMillis(now) - DateTime.toEpochMillis(snapshot.seenAt))
    const storeDoc = { kind: info.kind, location: info.location, ...Option.match(info.note, { onNone: () => ({}), onSome: (note) => ({ note }) }) }
    const consentDoc = Option.match(consent, {
      onNone: () => null,
      onSome: (r) => ({ acceptedAt: DateTime.formatIso(r.acceptedAt), version: r.version, how: r.how })
    })
    if (Option.isNone(tokens)) {
      if (args.json) yield* output.json({ signedIn: false, profile: args.profile, store: storeDoc, consent: consentDoc })
      else {
        yield* output.out(`Not signed in (profile ${args.profile}, ${info.kind} store at ${info.location}).`)
        yield* output.info(`Run ${style.bold(args.profile === "default" ? "subauth login" : `subauth login --profile ${args.profile}`)} to sign in.`)
      }
      return ExitCode.Failure
    }
    const t = tokens.value
    const expired = DateTime.lessThanOrEqualTo(t.expiresAt, now)
    const value = (o: Option.Option<string>) => Option.getOrNull(o)
    if (args.json) {
      yield* output.json({
        signedIn: true,
        profile: args.profile,
        accountId: value(t.accountId),
        email: value(t.email),
        plan: value(t.planType),
        userId: value(t.userId),
        expiresAt: DateTime.formatIso(t.expiresAt),
        expired,
        refreshable: Option.isSome(t.refreshToken),
        obtainedAt: DateTime.formatIso(t.obtainedAt),
        claimsVerified: t.claimsVerified,
        store: storeDoc,
        consent: consentDoc,
        usage: Option.match(seen, {
          onNone: () => null,
          onSome: (snapshot) => ({
            seenAt: DateTime.formatIso(snapshot.seenAt),
            ageSeconds: Math.round(ageMs(snapshot) / 1000),
            source: snapshot.source,
            ...RateLimits.toJson(snapshot.limits, now)
          })
        })
      })
      return ExitCode.Ok
    }
    const note = Option.orElse(fallbackNote(info, settings.platform), () => info.note)
    const usageLine = Option.match(seen, {
      onNone: () => style.dim("none seen yet (subauth usage asks)"),
      onSome: (snapshot) => {
        const windows = RateLimits.windowsOf(snapshot.limits)
        const near = RateLimits.nearLimit(snapshot.limits).length > 0
        const text = windows.length > 0 ? UsageText.brief(windows, now) : "no windows reported"
        return `${near ? style.yellow(text) : text} ${style.dim(`(seen ${UsageText.ago(ageMs(snapshot))})`)}`
      }
    })
    const when = (d: DateTime.Utc) => DateTime.formatIso(d).replace(/\.\d+Z$/, "Z")
    // Claims are the issuer's text: shown as one printable line each.
    const shown = (o: Option.Option<string>, none: string) => Printable.line(Option.getOrElse(o, () => none))
    const lines = [
      `${style.green("Signed in")} as ${style.bold(shown(t.email, "(no email)"))}`,
      `  profile    ${args.profile}`,
      `  account    ${shown(t.accountId, "(unknown)")}`,
      `  plan       ${shown(t.planType, "(unknown)")}`,
      `  token      ${
        expired
          ? style.yellow(`expired ${when(t.expiresAt)}${Option.isSome(t.refreshToken) ? "; it is refreshed on next use" : "; no refresh token: sign in again"}`)
          : `valid until ${when(t.expiresAt)}`
      }`,
      `  claims     ${t.claimsVerified ? "verified against the issuer's keys" : style.yellow("not verified")}`,
      `  store      ${info.kind} (${info.location})${Option.match(note, { onNone: () => "", onSome: (n) => `\n             ${style.dim(n)}` })}`,
      `  usage      ${usageLine}`,
      `  consent    ${Option.match(consent, { onNone: () => "no record", onSome: (r) => `accepted ${when(r.acceptedAt)} (${r.how === "flag" ? "--accept-terms" : "at the prompt"})` })}`
    ]
    yield* output.out(output.wrap(lines.join("\n")))
    return ExitCode.Ok
  }).pipe(services(args))
