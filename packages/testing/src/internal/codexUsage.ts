/**
 * What the fake Codex backend says of the subscription's limits: the windows
 * a test sets, as the usage endpoint's body (protocol.md §5.1) and as the
 * rate-limit headers of every answer (§5.4). Pure; `FakeCodexBackend`
 * re-exports it.
 */

/**
 * A window as a test sets it: how much is used, how long it is, and in how
 * many seconds (from each answer) it resets.
 *
 * @since 0.1.0
 * @category models
 */
export interface FakeWindow {
  readonly usedPercent: number
  readonly windowMinutes?: number
  readonly resetsInSeconds?: number
}

/**
 * The limits the fake reports, at the usage endpoint and in the rate-limit
 * headers of every answer. What is left out is not reported.
 *
 * @since 0.1.0
 * @category models
 */
export interface FakeUsage {
  /** The 5-hour window (`rate_limit.primary_window`, `x-codex-primary-*`). */
  readonly primary?: FakeWindow
  /** The weekly window. */
  readonly secondary?: FakeWindow
  readonly credits?: { readonly hasCredits: boolean; readonly unlimited: boolean; readonly balance?: string }
  /** `plan_type` (and `x-codex-plan-type`). */
  readonly plan?: string
  /** `x-codex-active-limit`. */
  readonly activeLimit?: string
  /** Other limit families: `additional_rate_limits` (`metered_feature` is `id`), and `x-<id with - for _>-*` headers. */
  readonly others?: ReadonlyArray<{
    readonly id: string
    readonly name?: string
    readonly primary?: FakeWindow
    readonly secondary?: FakeWindow
  }>
  /** `code_review_rate_limit` (the usage endpoint only). */
  readonly codeReview?: { readonly primary?: FakeWindow; readonly secondary?: FakeWindow }
}

/**
 * The limits by default: 12.5 % of the 5-hour window (resets in an hour), 40 %
 * of the week (resets in a day), no credits; no plan is reported.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUsage: FakeUsage = {
  primary: { usedPercent: 12.5, windowMinutes: 300, resetsInSeconds: 3600 },
  secondary: { usedPercent: 40, windowMinutes: 10080, resetsInSeconds: 86400 },
  credits: { hasCredits: false, unlimited: false },
  activeLimit: "codex"
}

/**
 * The rate-limit headers that say `usage`, as the real backend writes them
 * (protocol.md §5.4): `x-codex-{primary,secondary}-{used-percent,window-minutes,reset-after-seconds}`,
 * `x-codex-credits-*`, `x-codex-plan-type`, `x-codex-active-limit`, and for
 * each other family `x-<id with - for _>-…` with `-limit-name`.
 *
 * @since 0.1.0
 * @category utils
 */
export const usageHeaders = (usage: FakeUsage): Record<string, string> => {
  const headers: Record<string, string> = {}
  // Text a test made unfit for a header (escape sequences, for the body's sake) stays out of the headers.
  const text = (name: string, value: string) => {
    if (/^[\x20-\x7e]*$/.test(value)) headers[name] = value
  }
  const windows = (prefix: string, of: { readonly primary?: FakeWindow; readonly secondary?: FakeWindow }) => {
    for (const which of ["primary", "secondary"] as const) {
      const window = of[which]
      if (window === undefined) continue
      headers[`${prefix}-${which}-used-percent`] = String(window.usedPercent)
      if (window.windowMinutes !== undefined) headers[`${prefix}-${which}-window-minutes`] = String(window.windowMinutes)
      if (window.resetsInSeconds !== undefined) headers[`${prefix}-${which}-reset-after-seconds`] = String(window.resetsInSeconds)
    }
  }
  windows("x-codex", usage)
  if (usage.credits !== undefined) {
    headers["x-codex-credits-has-credits"] = String(usage.credits.hasCredits)
    headers["x-codex-credits-unlimited"] = String(usage.credits.unlimited)
    if (usage.credits.balance !== undefined) text("x-codex-credits-balance", usage.credits.balance)
  }
  if (usage.plan !== undefined) text("x-codex-plan-type", usage.plan)
  if (usage.activeLimit !== undefined) text("x-codex-active-limit", usage.activeLimit)
  for (const other of usage.others ?? []) {
    const prefix = `x-${other.id.replaceAll("_", "-")}`
    windows(prefix, other)
    if (other.name !== undefined) text(`${prefix}-limit-name`, other.name)
  }
  return headers
}

/**
 * The usage endpoint's body that says `usage` at `now` (epoch ms), in the
 * shape observed from the real one (protocol.md §5.1): each window with
 * `used_percent`, `limit_window_seconds`, `reset_after_seconds` and `reset_at`.
 *
 * @since 0.1.0
 * @category utils
 */
export const usageBody = (usage: FakeUsage, now: number): Record<string, unknown> => {
  const window = (w: FakeWindow | undefined) =>
    w === undefined ? undefined : {
      used_percent: w.usedPercent,
      ...(w.windowMinutes !== undefined ? { limit_window_seconds: w.windowMinutes * 60 } : {}),
      ...(w.resetsInSeconds !== undefined
        ? { reset_after_seconds: w.resetsInSeconds, reset_at: Math.floor(now / 1000) + w.resetsInSeconds }
        : {})
    }
  const reached = (of: { readonly primary?: FakeWindow; readonly secondary?: FakeWindow }) =>
    [of.primary, of.secondary].some((w) => w !== undefined && w.usedPercent >= 100)
  const limit = (of: { readonly primary?: FakeWindow; readonly secondary?: FakeWindow }) => ({
    allowed: !reached(of),
    limit_reached: reached(of),
    ...(of.primary !== undefined ? { primary_window: window(of.primary) } : {}),
    ...(of.secondary !== undefined ? { secondary_window: window(of.secondary) } : {})
  })
  return {
    ...(usage.plan !== undefined ? { plan_type: usage.plan } : {}),
    rate_limit: limit(usage),
    ...(usage.codeReview !== undefined ? { code_review_rate_limit: limit(usage.codeReview) } : {}),
    ...(usage.others !== undefined
      ? {
        additional_rate_limits: usage.others.map((other) => ({
          ...(other.name !== undefined ? { limit_name: other.name } : {}),
          metered_feature: other.id,
          rate_limit: limit(other)
        }))
      }
      : {}),
    ...(usage.credits !== undefined
      ? {
        credits: {
          has_credits: usage.credits.hasCredits,
          unlimited: usage.credits.unlimited,
          ...(usage.credits.balance !== undefined ? { balance: usage.credits.balance } : {})
        }
      }
      : {})
  }
}
