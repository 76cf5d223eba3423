/**
 * What the Codex backend's answers mean, apart from the stream: the
 * rate-limit headers every answer carries, the error an answer that is not a
 * stream stands for, and the error a `response.failed` stands for. Pure, so
 * the captured answers are tested as they are.
 *
 * @see protocol.md §5.4 to §5.6
 */
import type { Headers } from "@effect/platform"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { TransportError } from "../AuthError.js"
import { ResponseError, UsageLimitReached } from "../BackendError.js"
import * as CodexWire from "../CodexWire.js"
import type { OtherRateLimit, RateLimits, RateLimitWindow } from "../RateLimits.js"
import type { ModelInfo } from "../SubscriptionLLM.js"
import { MAX_ERROR_BODY_BYTES } from "../Limits.js"
import { formatBytes } from "./http.js"
import { scrub } from "./text.js"

const header = (headers: Headers.Headers, name: string): string | undefined => headers[name]

const finite = (value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

const bool = (value: string | undefined): boolean | undefined => {
  const v = value?.trim().toLowerCase()
  return v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : undefined
}

/**
 * A window as the headers and the usage endpoint both give it: used percent,
 * length, and the reset as an instant (unix seconds) or a delay (seconds from
 * `now`, epoch ms). None when it says nothing: codex-rs ignores such a window.
 */
export const rateLimitWindow = (
  parts: { readonly usedPercent: number; readonly windowMinutes: number | undefined; readonly resetAt: number | undefined; readonly resetAfterSeconds: number | undefined },
  now: number
): RateLimitWindow | undefined => {
  const { resetAfterSeconds, resetAt, usedPercent, windowMinutes } = parts
  const resetsAt = resetAt !== undefined
    ? DateTime.unsafeMake(resetAt * 1000)
    : resetAfterSeconds !== undefined
    ? DateTime.unsafeMake(now + Math.max(0, resetAfterSeconds) * 1000)
    : undefined
  if (usedPercent === 0 && windowMinutes === undefined && resetsAt === undefined) return undefined
  return {
    usedPercent,
    ...(windowMinutes !== undefined ? { windowMinutes } : {}),
    ...(resetsAt !== undefined ? { resetsAt } : {})
  }
}

const windowOf = (headers: Headers.Headers, prefix: string, which: string, now: number): RateLimitWindow | undefined => {
  const usedPercent = finite(header(headers, `${prefix}-${which}-used-percent`))
  if (usedPercent === undefined) return undefined
  return rateLimitWindow({
    usedPercent,
    windowMinutes: finite(header(headers, `${prefix}-${which}-window-minutes`)),
    resetAt: finite(header(headers, `${prefix}-${which}-reset-at`)),
    resetAfterSeconds: finite(header(headers, `${prefix}-${which}-reset-after-seconds`))
  }, now)
}

// A family's name, as the backend wrote it: one printable line, not too long.
const nameOf = (value: string | undefined): string | undefined => {
  const text = value !== undefined ? scrub(value, [], 80).trim() : ""
  return text === "" ? undefined : text
}

// `x-<family>-primary-used-percent`: how codex-rs finds the families (protocol.md §5.4).
const FAMILY = /^x-([a-z0-9][a-z0-9_-]{0,63})-primary-used-percent$/

/** At most this many other families are read from one answer. */
const MAX_OTHER_FAMILIES = 16

const othersOf = (headers: Headers.Headers, now: number): ReadonlyArray<OtherRateLimit> => {
  const seen = new Map<string, OtherRateLimit>()
  for (const name of Object.keys(headers)) {
    const prefix = FAMILY.exec(name.toLowerCase())?.[1]
    if (prefix === undefined) continue
    const id = prefix.replaceAll("-", "_")
    if (id === "codex" || seen.has(id) || seen.size >= MAX_OTHER_FAMILIES) continue
    const primary = windowOf(headers, `x-${prefix}`, "primary", now)
    const secondary = windowOf(headers, `x-${prefix}`, "secondary", now)
    if (primary === undefined && secondary === undefined) continue
    const limitName = nameOf(header(headers, `x-${prefix}-limit-name`))
    seen.set(id, {
      id,
      ...(limitName !== undefined ? { name: limitName } : {}),
      ...(primary !== undefined ? { primary } : {}),
      ...(secondary !== undefined ? { secondary } : {})
    })
  }
  return [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/**
 * The rate-limit state in the headers of an answer received at `now` (epoch
 * ms), if there is any: the `codex` family's windows, credits, plan, active
 * limit and limit name, and the other families (any header
 * `x-<id>-primary-used-percent`, `id` with `_` for `-`).
 *
 * @see protocol.md §5.4
 */
export const rateLimitsOf = (headers: Headers.Headers, now: number): RateLimits | undefined => {
  const primary = windowOf(headers, "x-codex", "primary", now)
  const secondary = windowOf(headers, "x-codex", "secondary", now)
  const hasCredits = bool(header(headers, "x-codex-credits-has-credits"))
  const unlimited = bool(header(headers, "x-codex-credits-unlimited"))
  const balance = header(headers, "x-codex-credits-balance")
  const planType = header(headers, "x-codex-plan-type")
  const activeLimit = header(headers, "x-codex-active-limit")
  const limitName = nameOf(header(headers, "x-codex-limit-name"))
  const others = othersOf(headers, now)
  const credits = hasCredits === undefined && unlimited === undefined
    ? undefined
    : { hasCredits: hasCredits ?? false, unlimited: unlimited ?? false, ...(balance !== undefined ? { balance } : {}) }
  const limits: RateLimits = {
    ...(primary !== undefined ? { primary } : {}),
    ...(secondary !== undefined ? { secondary } : {}),
    ...(credits !== undefined ? { credits } : {}),
    ...(planType !== undefined ? { planType } : {}),
    ...(activeLimit !== undefined ? { activeLimit } : {}),
    ...(limitName !== undefined ? { limitName } : {}),
    ...(others.length > 0 ? { others } : {})
  }
  return Object.keys(limits).length > 0 ? limits : undefined
}

const retryAfterOf = (text: string): Duration.Duration | undefined => {
  const m = /try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b/i.exec(text)
  if (m === null) return undefined
  const n = Number(m[1])
  return m[2]!.toLowerCase() === "ms" ? Duration.millis(n) : Duration.millis(Math.round(n * 1000))
}

/** `undefined` for the `null` the backend sends for "none". */
export const nonNull = <A>(a: A | null | undefined): A | undefined => (a === null ? undefined : a)


const usageLimitOf = (error: CodexWire.ErrorObject, now: number, description: string | undefined): UsageLimitReached | undefined => {
  const kind = nonNull(error.type) ?? nonNull(error.code)
  if (kind !== "usage_limit_reached" && kind !== "usage_not_included") return undefined
  const resetsAtSeconds = nonNull(error.resets_at)
  const resetsIn = nonNull(error.resets_in_seconds) ??
    (resetsAtSeconds !== undefined ? Math.max(0, Math.round(resetsAtSeconds - now / 1000)) : undefined)
  const rawPlan = nonNull(error.plan_type)
  const planType = rawPlan !== undefined ? scrub(rawPlan, [], 40) : undefined
  return new UsageLimitReached({
    reason: kind === "usage_limit_reached" ? "UsageLimitReached" : "UsageNotIncluded",
    ...(planType !== undefined ? { planType } : {}),
    ...(resetsAtSeconds !== undefined ? { resetsAt: DateTime.unsafeMake(resetsAtSeconds * 1000) } : {}),
    ...(resetsIn !== undefined ? { resetsInSeconds: resetsIn } : {}),
    ...(description !== undefined ? { description } : {})
  })
}

const codeReasons: Record<string, ResponseError["reason"]> = {
  context_length_exceeded: "ContextLengthExceeded",
  insufficient_quota: "QuotaExceeded",
  cyber_policy: "PolicyViolation",
  invalid_prompt: "InvalidRequest",
  server_is_overloaded: "Overloaded",
  slow_down: "Overloaded",
  rate_limit_exceeded: "RateLimited"
}

/**
 * The error a `response.failed` event stands for (codex-rs's mapping by
 * `error.code`).
 *
 * @see protocol.md §5.5
 */
export const streamFailure = (
  error: CodexWire.ErrorObject | undefined,
  now: number,
  secrets: ReadonlyArray<string> = []
): UsageLimitReached | ResponseError => {
  const text = nonNull(error?.message)
  const description = text !== undefined ? scrub(text, secrets) : undefined
  const limit = error !== undefined ? usageLimitOf(error, now, description) : undefined
  if (limit !== undefined) return limit
  const code = nonNull(error?.code) ?? nonNull(error?.type)
  const reason = (code !== undefined ? codeReasons[code] : undefined) ?? "Failed"
  const retryAfter = reason === "RateLimited" && text !== undefined ? retryAfterOf(text) : undefined
  return new ResponseError({
    reason,
    ...(code !== undefined ? { code: scrub(code, secrets, 80) } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {})
  })
}

/**
 * Whether a refusal names the model as the problem: OpenAI's `model_not_found`
 * code, or the backend's `{"detail":"The '…' model is not supported when using
 * Codex with a ChatGPT account."}`.
 */
const isUnknownModel = (code: string | undefined, text: string | undefined): boolean =>
  code === "model_not_found" ||
  (text !== undefined && /\bmodel\b[^.]{0,80}\b(?:is not supported|does not exist|not found)\b/i.test(text))

/**
 * Classifies an answer that is not a stream: 401 means "recover and try once
 * more" (`"Unauthorized"`); a usage limit is {@link UsageLimitReached}; 5xx
 * (but "overloaded") and 408 are `TransportError`s, which are retried; the
 * rest are {@link ResponseError}s.
 *
 * @see protocol.md §5.6
 */
export const classifyAnswer = (
  endpoint: string,
  answer: { readonly status: number; readonly json: unknown; readonly text: string; readonly tooLarge?: boolean },
  now: number,
  secrets: ReadonlyArray<string> = []
): "Unauthorized" | UsageLimitReached | ResponseError | TransportError => {
  const { status } = answer
  const body = Option.getOrUndefined(Schema.decodeUnknownOption(CodexWire.ErrorBody)(answer.json))
  const error = body?.error
  const detail = typeof body?.detail === "string" ? body.detail : undefined
  const rawText = nonNull(error?.message) ?? detail ??
    (answer.json === undefined && answer.text.length > 0 ? answer.text.slice(0, 4096).replace(/\s+/g, " ").trim() : undefined) ??
    (answer.tooLarge === true ? `its body, larger than ${formatBytes(MAX_ERROR_BODY_BYTES)}, was not read` : undefined)
  const description = rawText !== undefined ? scrub(rawText, secrets, 200) : undefined
  const limit = error !== undefined ? usageLimitOf(error, now, description) : undefined
  if (limit !== undefined) return limit
  if (status === 401) return "Unauthorized"
  const code = error !== undefined ? nonNull(error.code) ?? nonNull(error.type) : undefined
  const known = code !== undefined ? codeReasons[code] : undefined
  const fields = {
    status,
    ...(code !== undefined ? { code: scrub(code, secrets, 80) } : {}),
    ...(description !== undefined ? { description } : {})
  }
  if (known === "Overloaded") return new ResponseError({ reason: "Overloaded", ...fields })
  if (status >= 500 || status === 408) {
    return new TransportError({
      reason: status === 408 ? "Timeout" : "ServerError",
      endpoint,
      status,
      ...(description !== undefined ? { description } : {})
    })
  }
  if (status === 429) {
    const retryAfter = rawText !== undefined ? retryAfterOf(rawText) : undefined
    return new ResponseError({ reason: "RateLimited", ...fields, ...(retryAfter !== undefined ? { retryAfter } : {}) })
  }
  if (status === 403) return new ResponseError({ reason: "Forbidden", ...fields })
  if ((status === 400 || status === 404) && isUnknownModel(code, rawText)) return new ResponseError({ reason: "ModelNotFound", ...fields })
  return new ResponseError({ reason: known ?? "InvalidRequest", ...fields })
}

/** A catalog entry as the domain model: `null`s gone, defaults filled in. */
export const toModelInfo = (wire: typeof CodexWire.ModelInfo.Type): ModelInfo => {
  const contextWindow = nonNull(wire.context_window)
  const defaultReasoningEffort = nonNull(wire.default_reasoning_level)
  const baseInstructions = nonNull(wire.base_instructions)
  return {
    slug: wire.slug,
    displayName: nonNull(wire.display_name) ?? wire.slug,
    ...(contextWindow !== undefined ? { contextWindow } : {}),
    ...(defaultReasoningEffort !== undefined ? { defaultReasoningEffort } : {}),
    reasoningEfforts: (nonNull(wire.supported_reasoning_levels) ?? []).map((l) => (typeof l === "string" ? l : l.effort)),
    supportsReasoningSummaries: nonNull(wire.supports_reasoning_summaries) ?? false,
    supportsVerbosity: nonNull(wire.support_verbosity) ?? false,
    supportsParallelToolCalls: nonNull(wire.supports_parallel_tool_calls) ?? false,
    ...(baseInstructions !== undefined ? { baseInstructions } : {})
  }
}
