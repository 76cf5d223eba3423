/**
 * Consent to the terms of subscription use. Every login shows a one-line
 * notice; the first login of a profile (or any with `verbose`) shows the longer
 * disclaimer; continuing is accepting, and acceptance is stored as a record
 * (which text, its hash, when, how). Without a person to ask (no TTY, CI) and
 * without a stored record, login fails unless consent is given explicitly
 * (`acceptTerms`, the CLI's `--accept-terms`).
 *
 * @since 0.1.0
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { briefly } from "./internal/text.js"
import { LoginError } from "./LoginError.js"
import { LoginUI } from "./LoginUI.js"

/**
 * OpenAI's Terms of Use, which the notice points to. Part of the terms
 * {@link VERSION} names: a change of this address is a change of the notice.
 *
 * @since 0.1.0
 * @category constants
 */
export const TERMS_OF_USE_URL = "https://openai.com/policies/terms-of-use/"

/**
 * OpenAI's usage policies, which the disclaimer points to (see {@link TERMS_OF_USE_URL}).
 *
 * @since 0.1.0
 * @category constants
 */
export const USAGE_POLICIES_URL = "https://openai.com/policies/usage-policies/"

/**
 * Shown at every sign-in. One paragraph, unwrapped: a terminal wraps it to its width.
 *
 * @since 0.1.0
 * @category constants
 */
export const NOTICE =
  "Signing in with ChatGPT uses your ChatGPT subscription through an interface OpenAI built for its own Codex " +
  `clients; your use of it is subject to OpenAI's Terms of Use (${TERMS_OF_USE_URL}).`

/**
 * Shown at the first sign-in of a profile. One paragraph a line, unwrapped
 * (a terminal wraps them to its width, continuing a `- ` item under its text).
 *
 * @since 0.1.0
 * @category constants
 */
export const DISCLAIMER = [
  "Before you continue:",
  "- subauth is not made or endorsed by OpenAI. It signs in the way the Codex CLI does and sends requests to the " +
  "same backend. Whether other programs may use a ChatGPT subscription this way is a grey area of OpenAI's terms.",
  `- Read OpenAI's Terms of Use (${TERMS_OF_USE_URL}) and usage policies (${USAGE_POLICIES_URL}). ` +
  "Use your own account, for your own work; do not share or resell access. OpenAI may limit, change or end this " +
  "access, or act on your account, without notice.",
  "- Your tokens stay on this machine, in the store you chose. Anyone who can read them can use your subscription.",
  "- Requests count against your plan's usage limits like Codex requests do."
].join("\n")

/**
 * The terms a consent record accepts: bumped whenever the notice, the
 * disclaimer or their addresses change, so that people are asked again
 * (`textSha256` changes with the texts; test/Consent.test.ts checks both).
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION = "2026-11-30"

/**
 * What was accepted, when and how.
 *
 * @since 0.1.0
 * @category models
 */
export class ConsentRecord extends Schema.Class<ConsentRecord>("@subauth/core/ConsentRecord")({
  profile: Schema.String,
  version: Schema.String,
  /** base64url SHA-256 of the notice and the disclaimer as shown. */
  textSha256: Schema.String,
  acceptedAt: Schema.DateTimeUtc,
  how: Schema.Literal("prompt", "flag")
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface EnsureOptions {
  /** Consent given up front (`--accept-terms`). */
  readonly acceptTerms?: boolean
  /** Show the disclaimer even when a record exists. */
  readonly verbose?: boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Consent extends Context.Tag("@subauth/core/Consent")<Consent, {
  /** Shows the notice (and the disclaimer when due) and returns the consent record, asking if needed. */
  readonly ensure: (profile: string, options?: EnsureOptions) => Effect.Effect<ConsentRecord, LoginError>
  readonly get: (profile: string) => Effect.Effect<Option.Option<ConsentRecord>>
}>() {}

// base64url SHA-256 of `${NOTICE}\n${DISCLAIMER}`, written out: the first use of WebCrypto's digest costs 4 to 9 ms,
// a tenth of a `subauth status`. test/Consent.test.ts computes it again from the texts.
const TEXT_SHA256 = "khIAn1aabw_GBU-M88v_fjCHC194RrUBJgGc1ZEUHEU"

/**
 * The hash of the texts a person is shown: base64url SHA-256 of the notice and
 * the disclaimer, joined by a newline.
 *
 * @since 0.1.0
 * @category constructors
 */
export const textSha256: Effect.Effect<string> = Effect.succeed(TEXT_SHA256)

/**
 * The service over records kept in a `KeyValueStore` (`consent-<profile>`),
 * asking through the `LoginUI`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Consent["Type"], never, KeyValueStore.KeyValueStore | LoginUI> = Effect.gen(function*() {
  const records = (yield* KeyValueStore.KeyValueStore).forSchema(Schema.parseJson(ConsentRecord))
  const ui = yield* LoginUI
  const hash = yield* textSha256
  const key = (profile: string) => `consent-${profile}`

  // An unreadable record counts as none: the person is asked again.
  const get = (profile: string) =>
    records.get(key(profile)).pipe(
      Effect.map(Option.filter((r) => r.version === VERSION && r.textSha256 === hash)),
      Effect.orElseSucceed(() => Option.none<ConsentRecord>())
    )

  const accept = Effect.fn("Consent.accept")(function*(profile: string, how: ConsentRecord["how"]) {
    const record = new ConsentRecord({ profile, version: VERSION, textSha256: hash, acceptedAt: yield* DateTime.now, how })
    yield* records.set(key(profile), record).pipe(
      Effect.catchAll((error) =>
        Effect.zipRight(
          Effect.logDebug(`the consent record could not be saved: ${error.message}`),
          ui.show({
            _tag: "Warning",
            text: `the consent record could not be saved (${briefly(error)}); the terms will be asked again at the next sign-in`
          })
        )
      )
    )
    return record
  })

  const ensure = Effect.fn("Consent.ensure")(function*(profile: string, options: EnsureOptions = {}) {
    yield* ui.show({ _tag: "Notice", text: NOTICE })
    const existing = yield* get(profile)
    if (Option.isNone(existing) || options.verbose === true) yield* ui.show({ _tag: "Disclaimer", text: DISCLAIMER })
    if (Option.isSome(existing)) return existing.value
    if (options.acceptTerms === true) return yield* accept(profile, "flag")
    if (!ui.interactive) {
      return yield* new LoginError({
        reason: "ConsentRequired",
        description:
          "consent is needed before the first sign-in and there is no terminal to ask it on; read the notice above and run again with --accept-terms (or acceptTerms: true)"
      })
    }
    const answer = yield* ui.ask("Continue and accept? [y/N]")
    if (Option.isSome(answer) && /^\s*y(es)?\s*$/i.test(answer.value)) return yield* accept(profile, "prompt")
    return yield* new LoginError({ reason: "ConsentDeclined", description: "sign-in cancelled: the terms were not accepted" })
  })

  return { ensure, get }
})

/**
 * Records kept in a `KeyValueStore` (`consent-<profile>`): a directory of files
 * with `NodeKeyValueStore.layerFileSystem`, memory in tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Consent, never, KeyValueStore.KeyValueStore | LoginUI> = Layer.effect(Consent, make)
