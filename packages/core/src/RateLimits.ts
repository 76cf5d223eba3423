/**
 * What the Codex backend says of a subscription's limits: each window (5
 * hours, the week) and how much of it is used, when it resets, credits, the
 * plan, and limit families other than `codex`. Two sources say it: the
 * headers of every answer (protocol.md §5.4), read by
 * `SubscriptionLLM.rateLimitsOf`, and the usage endpoint (§5.1), read by
 * `SubscriptionLLM.usage`.
 *
 * Here are the models, their stored form ({@link Snapshot} as JSON, through
 * Schema), the document `subauth usage --json` and the proxy's `GET /v1/usage`
 * print ({@link toJson}), the headers the proxy passes on ({@link toHeaders}),
 * and {@link nearLimit}. Light on purpose: `subauth status` reads a stored
 * snapshot without loading the backend's client.
 *
 * @see protocol.md §5.1, §5.4
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"

/**
 * One rate-limit window: how much of it is used (0 to 100), how long it is,
 * and when it resets.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RateLimitWindow = Schema.Struct({
  usedPercent: Schema.Number,
  windowMinutes: Schema.optionalWith(Schema.Number, { exact: true }),
  resetsAt: Schema.optionalWith(Schema.DateTimeUtc, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RateLimitWindow extends Schema.Schema.Type<typeof RateLimitWindow> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Credits = Schema.Struct({
  hasCredits: Schema.Boolean,
  unlimited: Schema.Boolean,
  balance: Schema.optionalWith(Schema.String, { exact: true })
})

/**
 * Credits bought beyond the plan: whether there are any, whether they are
 * unlimited, and the balance as the backend wrote it (`"5.39"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Credits extends Schema.Schema.Type<typeof Credits> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const OtherRateLimit = Schema.Struct({
  id: Schema.String,
  name: Schema.optionalWith(Schema.String, { exact: true }),
  primary: Schema.optionalWith(RateLimitWindow, { exact: true }),
  secondary: Schema.optionalWith(RateLimitWindow, { exact: true })
})

/**
 * A limit family other than `codex` (a model with limits of its own): `id`
 * with `_` for `-` (`x-codex-other-primary-used-percent` is `codex_other`,
 * as the endpoint's `metered_feature` names it), and its display name.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtherRateLimit extends Schema.Schema.Type<typeof OtherRateLimit> {}

const rateLimitsFields = {
  primary: Schema.optionalWith(RateLimitWindow, { exact: true }),
  secondary: Schema.optionalWith(RateLimitWindow, { exact: true }),
  credits: Schema.optionalWith(Credits, { exact: true }),
  planType: Schema.optionalWith(Schema.String, { exact: true }),
  activeLimit: Schema.optionalWith(Schema.String, { exact: true }),
  limitName: Schema.optionalWith(Schema.String, { exact: true }),
  others: Schema.optionalWith(Schema.Array(OtherRateLimit), { exact: true })
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const RateLimits = Schema.Struct(rateLimitsFields)

/**
 * The rate-limit state of the `codex` family (`primary`: the 5-hour window,
 * `secondary`: the week; they apply together), credits, plan, the family the
 * backend counts this request against (`activeLimit`), and `others`.
 *
 * @see protocol.md §5.4
 * @since 0.1.0
 * @category models
 */
export interface RateLimits extends Schema.Schema.Type<typeof RateLimits> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const UsageReport = Schema.Struct({
  ...rateLimitsFields,
  codeReview: Schema.optionalWith(
    Schema.Struct({
      primary: Schema.optionalWith(RateLimitWindow, { exact: true }),
      secondary: Schema.optionalWith(RateLimitWindow, { exact: true })
    }),
    { exact: true }
  ),
  allowed: Schema.optionalWith(Schema.Boolean, { exact: true }),
  limitReached: Schema.optionalWith(Schema.Boolean, { exact: true }),
  fetchedAt: Schema.DateTimeUtc
})

/**
 * What the usage endpoint says (`GET …/wham/usage`): the {@link RateLimits}
 * vocabulary, plus the code-review windows, whether the limit is reached, and
 * when it was asked. Every part may be missing.
 *
 * @see protocol.md §5.1
 * @since 0.1.0
 * @category models
 */
export interface UsageReport extends Schema.Schema.Type<typeof UsageReport> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Snapshot = Schema.Struct({
  limits: RateLimits,
  seenAt: Schema.DateTimeUtc,
  source: Schema.Literal("headers", "usage")
})

/**
 * The latest limits a service saw, when, and where: in an answer's headers,
 * or from the usage endpoint. Its encoded form (`Schema.encode(Snapshot)`) is
 * JSON, which is how `subauth` keeps it per profile.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot extends Schema.Schema.Type<typeof Snapshot> {}

/**
 * A window is "near the limit" above this percentage.
 *
 * @since 0.1.0
 * @category constants
 */
export const NEAR_LIMIT_PERCENT = 90

/**
 * One window with where it belongs: the family (`"codex"` or an other's id),
 * the family's name when it has one, and which of its windows it is.
 *
 * @since 0.1.0
 * @category models
 */
export interface NamedWindow {
  readonly family: string
  readonly name?: string
  readonly which: "primary" | "secondary"
  readonly window: RateLimitWindow
}

/**
 * Every window of `limits`, the `codex` family's first.
 *
 * @since 0.1.0
 * @category utils
 */
export const windowsOf = (limits: RateLimits): ReadonlyArray<NamedWindow> => {
  const out: Array<NamedWindow> = []
  const add = (family: string, name: string | undefined, of: { readonly primary?: RateLimitWindow; readonly secondary?: RateLimitWindow }) => {
    for (const which of ["primary", "secondary"] as const) {
      const window = of[which]
      if (window !== undefined) out.push({ family, ...(name !== undefined ? { name } : {}), which, window })
    }
  }
  add("codex", limits.limitName, limits)
  for (const other of limits.others ?? []) add(other.id, other.name, other)
  return out
}

/**
 * The windows used more than `percent` (default {@link NEAR_LIMIT_PERCENT}).
 *
 * @since 0.1.0
 * @category utils
 */
export const nearLimit = (limits: RateLimits, percent: number = NEAR_LIMIT_PERCENT): ReadonlyArray<NamedWindow> =>
  windowsOf(limits).filter((w) => w.window.usedPercent > percent)

// --- the JSON document ----------------------------------------------------------------------------

/**
 * A window in {@link toJson}'s document. `resetsInSeconds` is counted from
 * the `now` it was made at.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowJson {
  readonly usedPercent: number
  readonly windowMinutes: number | null
  readonly resetsAt: string | null
  readonly resetsInSeconds: number | null
}

/**
 * {@link toJson}'s document: every key always there, `null` for what is not
 * known.
 *
 * @since 0.1.0
 * @category models
 */
export interface Json {
  readonly plan: string | null
  readonly limitReached: boolean | null
  readonly primary: WindowJson | null
  readonly secondary: WindowJson | null
  readonly credits: { readonly hasCredits: boolean; readonly unlimited: boolean; readonly balance: string | null } | null
  readonly codeReview: { readonly primary: WindowJson | null; readonly secondary: WindowJson | null } | null
  readonly others: ReadonlyArray<{
    readonly id: string
    readonly name: string | null
    readonly primary: WindowJson | null
    readonly secondary: WindowJson | null
  }>
}

const windowJson = (window: RateLimitWindow | undefined, now: DateTime.Utc): WindowJson | null =>
  window === undefined ? null : {
    usedPercent: window.usedPercent,
    windowMinutes: window.windowMinutes ?? null,
    resetsAt: window.resetsAt !== undefined ? DateTime.formatIso(window.resetsAt) : null,
    resetsInSeconds: window.resetsAt !== undefined
      ? Math.max(0, Math.round((DateTime.toEpochMillis(window.resetsAt) - DateTime.toEpochMillis(now)) / 1000))
      : null
  }

/**
 * Limits (from headers) or a usage report as one JSON document with fixed
 * keys: what `subauth usage --json` prints and the proxy's `GET /v1/usage`
 * answers.
 *
 * @since 0.1.0
 * @category utils
 */
export const toJson = (limits: RateLimits & Partial<Pick<UsageReport, "codeReview" | "limitReached">>, now: DateTime.Utc): Json => ({
  plan: limits.planType ?? null,
  limitReached: limits.limitReached ?? null,
  primary: windowJson(limits.primary, now),
  secondary: windowJson(limits.secondary, now),
  credits: limits.credits === undefined
    ? null
    : { hasCredits: limits.credits.hasCredits, unlimited: limits.credits.unlimited, balance: limits.credits.balance ?? null },
  codeReview: limits.codeReview === undefined
    ? null
    : { primary: windowJson(limits.codeReview.primary, now), secondary: windowJson(limits.codeReview.secondary, now) },
  others: (limits.others ?? []).map((other) => ({
    id: other.id,
    name: other.name ?? null,
    primary: windowJson(other.primary, now),
    secondary: windowJson(other.secondary, now)
  }))
})

/**
 * The limits of a usage report (what a {@link Snapshot} keeps of it).
 *
 * @since 0.1.0
 * @category utils
 */
export const limitsOf = (report: UsageReport): RateLimits => {
  const { allowed: _allowed, codeReview: _codeReview, fetchedAt: _fetchedAt, limitReached: _limitReached, ...limits } = report
  return limits
}

// --- headers ------------------------------------------------------------------------------------

// A value that may travel in a header as it is: visible ASCII and spaces, not too long.
const headerText = (value: string | undefined): string | undefined =>
  value !== undefined && /^[\x20-\x7e]{1,100}$/.test(value) ? value.trim() : undefined

const FAMILY_ID = /^[a-z0-9][a-z0-9_]{0,63}$/

/**
 * The limits as the backend's rate-limit headers (`x-codex-primary-used-percent`,
 * …, with `-reset-at` in unix seconds; an other family `id` as
 * `x-<id with - for _>-…`): what the proxy passes on to its clients.
 * Text that cannot travel in a header as it is (control characters, non-ASCII)
 * is left out.
 *
 * @see protocol.md §5.4
 * @since 0.1.0
 * @category utils
 */
export const toHeaders = (limits: RateLimits): Record<string, string> => {
  const headers: Record<string, string> = {}
  const put = (name: string, value: string | undefined) => {
    if (value !== undefined) headers[name] = value
  }
  const windows = (prefix: string, of: { readonly primary?: RateLimitWindow; readonly secondary?: RateLimitWindow }) => {
    for (const which of ["primary", "secondary"] as const) {
      const window = of[which]
      if (window === undefined) continue
      put(`${prefix}-${which}-used-percent`, String(window.usedPercent))
      if (window.windowMinutes !== undefined) put(`${prefix}-${which}-window-minutes`, String(window.windowMinutes))
      if (window.resetsAt !== undefined) {
        put(`${prefix}-${which}-reset-at`, String(Math.floor(DateTime.toEpochMillis(window.resetsAt) / 1000)))
      }
    }
  }
  windows("x-codex", limits)
  if (limits.credits !== undefined) {
    put("x-codex-credits-has-credits", String(limits.credits.hasCredits))
    put("x-codex-credits-unlimited", String(limits.credits.unlimited))
    put("x-codex-credits-balance", headerText(limits.credits.balance))
  }
  put("x-codex-plan-type", headerText(limits.planType))
  put("x-codex-active-limit", headerText(limits.activeLimit))
  put("x-codex-limit-name", headerText(limits.limitName))
  for (const other of limits.others ?? []) {
    const id = other.id.toLowerCase()
    if (!FAMILY_ID.test(id) || id === "codex") continue
    const prefix = `x-${id.replaceAll("_", "-")}`
    windows(prefix, other)
    put(`${prefix}-limit-name`, headerText(other.name))
  }
  return headers
}
