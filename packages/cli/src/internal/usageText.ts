/**
 * The limits in words: "5-hour window: 12 % used, resets in 2 h 10 min (at
 * 14:35)". Times of day are this machine's local time. Names that came from
 * the backend are made one printable line.
 */
import * as Printable from "@subauth/core/Printable"
import type * as RateLimits from "@subauth/core/RateLimits"
import * as DateTime from "effect/DateTime"

/** What a window is called, by its length: `5-hour`, `Weekly`, `Daily`, `30-minute`, … */
export const windowName = (window: RateLimits.RateLimitWindow, which: "primary" | "secondary"): string => {
  const minutes = window.windowMinutes
  if (minutes === undefined || minutes <= 0) return which === "primary" ? "Short" : "Long"
  if (minutes % 1440 === 0) {
    const days = minutes / 1440
    return days === 7 ? "Weekly" : days === 1 ? "Daily" : `${days}-day`
  }
  if (minutes % 60 === 0) return `${minutes / 60}-hour`
  return `${minutes}-minute`
}

/** `12 %`, `12.5 %`. */
export const percent = (value: number): string => `${Math.round(value * 10) / 10} %`

/** `less than a minute`, `25 min`, `2 h 10 min`, `3 d 4 h`. */
export const duration = (ms: number): string => {
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 1) return "less than a minute"
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  const days = Math.floor(hours / 24)
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`
}

const pad = (n: number) => String(n).padStart(2, "0")
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

/**
 * The local time of `at`: `14:35` on `now`'s day, `Tue 14:35` within a week
 * (so a reset 23 hours away never reads as a time of today), else
 * `2026-05-04 14:35`.
 */
export const clock = (at: DateTime.Utc, now: DateTime.Utc): string => {
  const ms = DateTime.toEpochMillis(at)
  const local = new Date(ms)
  const today = new Date(DateTime.toEpochMillis(now))
  const time = `${pad(local.getHours())}:${pad(local.getMinutes())}`
  const ahead = ms - today.getTime()
  const sameDay = local.getFullYear() === today.getFullYear() && local.getMonth() === today.getMonth() &&
    local.getDate() === today.getDate()
  if (sameDay) return time
  if (ahead < 7 * 24 * 3_600_000) return `${WEEKDAYS[local.getDay()]} ${time}`
  return `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())} ${time}`
}

/** `resets in 2 h 10 min (at 14:35)`, or `reset since` when that time has passed. */
export const resets = (window: RateLimits.RateLimitWindow, now: DateTime.Utc): string | undefined => {
  if (window.resetsAt === undefined) return undefined
  const ms = DateTime.toEpochMillis(window.resetsAt) - DateTime.toEpochMillis(now)
  return ms <= 0 ? "reset since" : `resets in ${duration(ms)} (at ${clock(window.resetsAt, now)})`
}

/** A family's name as shown before its windows' (none for `codex`). */
export const familyName = (window: Pick<RateLimits.NamedWindow, "family" | "name">): string | undefined =>
  window.family === "codex" ? undefined : Printable.line(window.name ?? window.family)

/** `Spark 5-hour window: 95 % used, resets in 10 min (at 14:35)`. */
export const windowLine = (named: RateLimits.NamedWindow, now: DateTime.Utc): string => {
  const family = familyName(named)
  const name = windowName(named.window, named.which)
  const head = family === undefined ? `${name} window` : `${family} ${name.toLowerCase()} window`
  const reset = resets(named.window, now)
  return `${head}: ${percent(named.window.usedPercent)} used${reset !== undefined ? `, ${reset}` : ""}`
}

/** `the 5-hour window is 93 % used; it resets in 10 min (at 14:35)`: the near-limit warning. */
export const nearLimitWarning = (named: RateLimits.NamedWindow, now: DateTime.Utc): string => {
  const family = familyName(named)
  const name = windowName(named.window, named.which).toLowerCase()
  const reset = resets(named.window, now)
  return `the ${family !== undefined ? `${family} ` : ""}${name} window is ${percent(named.window.usedPercent)} used` +
    (reset !== undefined && reset !== "reset since" ? `; it ${reset}` : "")
}

/** `balance 5.39`, `unlimited`, `none`. */
export const credits = (value: RateLimits.Credits): string =>
  value.unlimited
    ? "unlimited"
    : value.balance !== undefined
    ? `balance ${Printable.line(value.balance)}`
    : value.hasCredits
    ? "yes"
    : "none"

/** `just now`, `3 min ago`, `2 h ago`. */
export const ago = (ms: number): string => (ms < 60_000 ? "just now" : `${duration(ms)} ago`)

/** `5-hour 12 %, weekly 40 %`: the windows in a few words (status). */
export const brief = (windows: ReadonlyArray<RateLimits.NamedWindow>, now: DateTime.Utc): string =>
  windows.map((named) => {
    const family = familyName(named)
    const name = windowName(named.window, named.which).toLowerCase()
    const passed = named.window.resetsAt !== undefined && DateTime.lessThanOrEqualTo(named.window.resetsAt, now)
    return `${family !== undefined ? `${family} ` : ""}${name} ${percent(named.window.usedPercent)}${passed ? " (reset since)" : ""}`
  }).join(", ")
