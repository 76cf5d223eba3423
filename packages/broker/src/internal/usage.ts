/**
 * A connection's latest usage windows, as the gateway saw them in the
 * backend's rate-limit headers (protocol.md §5.4): stored as JSON in
 * `connections.usage_snapshot`, shown in `GET /v1/users/{id}/connection`.
 */
import type { SubscriptionLLM } from "@subauth/core"
import type { UsageWindow } from "../Webhooks.js"
import { DateTime, Option, Schema } from "effect"

const Window = Schema.Struct({
  used_percent: Schema.Number,
  window_minutes: Schema.NullOr(Schema.Number),
  resets_at: Schema.NullOr(Schema.Number)
})

export const Snapshot = Schema.Struct({
  primary: Schema.NullOr(Window),
  secondary: Schema.NullOr(Window),
  credits: Schema.NullOr(Schema.Struct({ has_credits: Schema.Boolean, unlimited: Schema.Boolean, balance: Schema.NullOr(Schema.String) })),
  plan: Schema.NullOr(Schema.String)
})

export type Snapshot = typeof Snapshot.Type

const windowOf = (window: SubscriptionLLM.RateLimitWindow | undefined): typeof Window.Type | null =>
  window === undefined ? null : {
    used_percent: window.usedPercent,
    window_minutes: window.windowMinutes ?? null,
    resets_at: window.resetsAt !== undefined ? DateTime.toEpochMillis(window.resetsAt) : null
  }

export const fromRateLimits = (limits: SubscriptionLLM.RateLimits): Snapshot => ({
  primary: windowOf(limits.primary),
  secondary: windowOf(limits.secondary),
  credits: limits.credits === undefined
    ? null
    : { has_credits: limits.credits.hasCredits, unlimited: limits.credits.unlimited, balance: limits.credits.balance ?? null },
  plan: limits.planType ?? null
})

const decode = Schema.decodeUnknownOption(Schema.parseJson(Snapshot))

/** The stored snapshot, if the column holds one (a damaged one reads as none). */
export const parse = (text: string | null): Option.Option<Snapshot> => (text === null ? Option.none() : decode(text))

export const encode = (snapshot: Snapshot): string => JSON.stringify(snapshot)

/** The windows as the webhooks compare them: `primary` (5 hours) and `secondary` (the week). */
export const windowsOf = (limits: SubscriptionLLM.RateLimits): ReadonlyArray<UsageWindow> =>
  (["primary", "secondary"] as const).flatMap((name) => {
    const window = limits[name]
    return window === undefined
      ? []
      : [{ name, usedPercent: window.usedPercent, ...(window.resetsAt !== undefined ? { resetsAt: DateTime.toEpochMillis(window.resetsAt) } : {}) }]
  })
