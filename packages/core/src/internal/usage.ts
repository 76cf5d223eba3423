/**
 * What the usage endpoint's answer says, in the vocabulary of the rate-limit
 * headers (`RateLimits`). Pure, so that captured and hand-made bodies are
 * tested as they are.
 *
 * @see protocol.md §5.1
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as CodexWire from "../CodexWire.js"
import type { OtherRateLimit, RateLimitWindow, UsageReport } from "../RateLimits.js"
import { nonNull, rateLimitWindow } from "./answers.js"
import { scrub } from "./text.js"

const part = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownOption(schema)
  return (u: unknown): A | undefined => (u === undefined || u === null ? undefined : Option.getOrUndefined(decode(u)))
}

const readWindow = part(CodexWire.UsageWindow)
const readRateLimit = part(CodexWire.UsageRateLimit)
const readCredits = part(CodexWire.UsageCredits)
const readAdditional = part(CodexWire.UsageAdditionalRateLimit)
const readResponse = part(CodexWire.UsageResponse)

const finite = (n: number | null | undefined): number | undefined => (typeof n === "number" && Number.isFinite(n) ? n : undefined)

// Text from the body that ends up on a terminal or in a header: one printable line, not too long.
const text = (value: string | null | undefined, max = 80): string | undefined => {
  const line = value === undefined || value === null ? "" : scrub(value, [], max).trim()
  return line === "" ? undefined : line
}

/** A window of the body as the headers would give it; none when it says nothing (as codex-rs treats headers). */
const windowOf = (raw: unknown, now: number): RateLimitWindow | undefined => {
  const wire = readWindow(raw)
  const usedPercent = finite(wire?.used_percent)
  if (wire === undefined || usedPercent === undefined || usedPercent < 0) return undefined
  const seconds = finite(wire.limit_window_seconds)
  const windowMinutes = seconds !== undefined && seconds > 0 ? Math.round(seconds / 60) : undefined
  return rateLimitWindow({ usedPercent, windowMinutes, resetAt: finite(wire.reset_at), resetAfterSeconds: finite(wire.reset_after_seconds) }, now)
}

const windowsOf = (raw: unknown, now: number) => {
  const limit = readRateLimit(raw)
  const primary = windowOf(limit?.primary_window, now)
  const secondary = windowOf(limit?.secondary_window, now)
  return {
    limit,
    windows: {
      ...(primary !== undefined ? { primary } : {}),
      ...(secondary !== undefined ? { secondary } : {})
    }
  }
}

/** At most this many other families are read from one answer. */
const MAX_OTHER_FAMILIES = 32

const familyId = (value: string): string | undefined => {
  const id = value.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64)
  return id === "" ? undefined : id
}

const othersOf = (raw: unknown, now: number): ReadonlyArray<OtherRateLimit> => {
  if (!Array.isArray(raw)) return []
  const seen = new Map<string, OtherRateLimit>()
  for (const [index, entry] of raw.slice(0, MAX_OTHER_FAMILIES).entries()) {
    const wire = readAdditional(entry)
    if (wire === undefined) continue
    const name = text(wire.limit_name)
    const id = familyId(nonNull(wire.metered_feature) ?? name ?? "") ?? `additional_${index + 1}`
    const { windows } = windowsOf(wire.rate_limit, now)
    if (id === "codex" || seen.has(id) || Object.keys(windows).length === 0) continue
    seen.set(id, { id, ...(name !== undefined ? { name } : {}), ...windows })
  }
  return [...seen.values()]
}

/**
 * The report in the usage endpoint's answer `json`, received at `now` (epoch
 * ms); `undefined` when it is not a JSON object. Lenient: every part may be
 * missing, and a part that does not decode is left out.
 *
 * @see protocol.md §5.1
 */
export const usageReportOf = (json: unknown, now: number): UsageReport | undefined => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const body = readResponse(json)
  if (body === undefined) return undefined
  const { limit, windows } = windowsOf(body.rate_limit, now)
  const codeReview = windowsOf(body.code_review_rate_limit, now).windows
  const planType = typeof body.plan_type === "string" ? text(body.plan_type, 40) : undefined
  const others = othersOf(body.additional_rate_limits, now)
  const wireCredits = readCredits(body.credits)
  const hasCredits = nonNull(wireCredits?.has_credits)
  const unlimited = nonNull(wireCredits?.unlimited)
  const rawBalance = nonNull(wireCredits?.balance)
  const balance = typeof rawBalance === "number" ? (Number.isFinite(rawBalance) ? String(rawBalance) : undefined) : text(rawBalance, 40)
  const credits = hasCredits === undefined && unlimited === undefined
    ? undefined
    : { hasCredits: hasCredits ?? false, unlimited: unlimited ?? false, ...(balance !== undefined ? { balance } : {}) }
  const allowed = nonNull(limit?.allowed)
  const limitReached = nonNull(limit?.limit_reached)
  return {
    ...(planType !== undefined ? { planType } : {}),
    ...windows,
    ...(credits !== undefined ? { credits } : {}),
    ...(Object.keys(codeReview).length > 0 ? { codeReview } : {}),
    ...(others.length > 0 ? { others } : {}),
    ...(allowed !== undefined ? { allowed } : {}),
    ...(limitReached !== undefined ? { limitReached } : {}),
    fetchedAt: DateTime.unsafeMake(now)
  }
}

/**
 * Where the usage endpoint is for a Codex base URL: `{chatgpt_base_url}/wham/usage`,
 * where the Codex base is `{chatgpt_base_url}/codex` (so
 * `https://chatgpt.com/backend-api/codex` gives
 * `https://chatgpt.com/backend-api/wham/usage`); any other base gets
 * `/wham/usage` appended.
 *
 * @see protocol.md §5.1
 */
export const usageUrlOf = (baseUrl: string): string => `${baseUrl.replace(/\/+$/, "").replace(/\/codex$/, "")}/wham/usage`
