/**
 * One or two plain lines per failure, with what to do next, and the exit code
 * documented in `--help` and the README. Never a stack trace, never a token:
 * every error class of subauth builds its message without secrets, and
 * anything unexpected is reported by kind only.
 *
 * Never the platform's own words either: a system error code in a message
 * (`could not reach the token endpoint (ECONNREFUSED)`) is said in plain words,
 * and the error's cause (Node's or the keychain's text) goes to the debug log
 * (`SUBAUTH_LOG=debug`), not to the person.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { Output } from "../Output.js"
import { Settings } from "../Settings.js"

export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  SignInRequired: 3,
  UsageLimit: 4
} as const

/** A command line that parsed but does not make sense (exit code 2). */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

export interface Report {
  readonly code: number
  readonly message: string
  readonly hint?: string
}

const tagged = (u: unknown): u is { readonly _tag: string; readonly message: string; readonly reason?: string } =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string" &&
  typeof (u as { message?: unknown }).message === "string"

/** System error codes (Node's, OpenSSL's) as a person would say them. */
const CODES: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "not permitted",
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
  EROFS: "the file system is read-only",
  EMFILE: "too many open files",
  EADDRINUSE: "the address is in use",
  EADDRNOTAVAIL: "the address is not on this machine",
  ECONNREFUSED: "nothing answers at that address",
  ECONNRESET: "the connection was cut",
  ECONNABORTED: "the connection was cut",
  EPIPE: "the connection was cut",
  ETIMEDOUT: "the connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "the connection timed out",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name could not be resolved (no answer from DNS)",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the network is unreachable",
  ENETDOWN: "the network is down",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another name",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is not trusted here",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's TLS certificate is not trusted here",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate is not trusted here",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's TLS certificate is not trusted here"
}

const UNTRUSTED = "the server's TLS certificate is not trusted here"

/** `message` with each system error code in parentheses said in plain words. */
export const inPlainWords = (message: string): string =>
  message.replace(/\(([A-Z][A-Z0-9_]{2,})\)/g, (all, code: string) => (CODES[code] !== undefined ? `(${CODES[code]})` : all))

/** What a message's system error codes call for, if anything: a proxy that inspects TLS needs its CA. */
const codeHint = (message: string): string | undefined =>
  inPlainWords(message).includes(UNTRUSTED)
    ? "a proxy that inspects TLS needs its CA certificate in NODE_EXTRA_CA_CERTS"
    : undefined

/**
 * How to get tokens into the keychain when it does not work: on Linux, a
 * Secret Service (GNOME Keyring, KeePassXC) on a D-Bus session, which a
 * desktop login starts and an SSH login usually lacks.
 */
export const keychainAdvice = (platform: string | undefined): string =>
  platform === "linux"
    ? "To keep them in the keychain, sign in from a desktop session (or one started with dbus-run-session) with an " +
      "unlocked keyring (GNOME Keyring, KeePassXC), with --store keychain; or keep the files encrypted: --store encrypted " +
      "with a key in SUBAUTH_STORE_KEY_FILE."
    : "To keep them in the keychain, unlock it and sign in with --store keychain; or keep the files encrypted: " +
      "--store encrypted with a key in SUBAUTH_STORE_KEY_FILE."

/**
 * What `subauth` says when the `auto` store fell back to files: why the
 * keychain could not be used, in plain words, where the tokens are, and how to
 * use the keychain instead.
 */
export const fallbackNote = (
  info: { readonly location: string; readonly keychainUnavailable: Option.Option<{ readonly description: string }> },
  platform: string
): Option.Option<string> =>
  Option.map(
    info.keychainUnavailable,
    (error) =>
      `${error.description}. The tokens are in files only you can read (0600) in ${info.location}. ${keychainAdvice(platform)}`
  )

const isKeychainFailure = (error: { readonly _tag: string; readonly reason?: string; readonly location?: unknown }) =>
  error._tag === "TokenStoreError" && error.reason === "Unavailable" && typeof error.location === "string" &&
  error.location.startsWith("keychain ")

/** What a failed command reports, from the error it failed with. */
export const report = (error: unknown, platform?: string): Report => {
  if (!tagged(error)) return { code: ExitCode.Failure, message: "unexpected error" }
  const base = reportOf(error, platform)
  const message = inPlainWords(base.message)
  const hint = base.hint ?? codeHint(base.message)
  return { code: base.code, message, ...(hint !== undefined ? { hint } : {}) }
}

const reportOf = (
  error: { readonly _tag: string; readonly message: string; readonly reason?: string },
  platform: string | undefined
): Report => {
  switch (error._tag) {
    case "UsageError":
      return { code: ExitCode.Usage, message: error.message, hint: "see subauth <command> --help" }
    case "ReauthRequired":
      return { code: ExitCode.SignInRequired, message: error.message }
    case "UsageLimitReached":
      return { code: ExitCode.UsageLimit, message: error.message }
    case "ResponseError":
      // The backend refused the token even after it was renewed: the sign-in is what has to change.
      return { code: error.reason === "Unauthorized" ? ExitCode.SignInRequired : ExitCode.Failure, message: error.message }
    case "LoginError":
      return error.reason === "ConsentRequired"
        ? { code: ExitCode.Usage, message: error.message }
        : { code: ExitCode.Failure, message: error.message }
    case "ProviderError":
      return {
        code: ExitCode.Usage,
        message: error.message,
        hint: "set SUBAUTH_ALLOW_INSECURE_HTTP=1 to allow http:// on a loopback host"
      }
    case "BrokerError":
      return error.reason === undefined && (error as { code?: unknown }).code === "invalid_request"
        ? { code: ExitCode.Usage, message: error.message }
        : { code: ExitCode.Failure, message: error.message }
    case "ConfigError":
    case "And":
    case "Or":
    case "InvalidData":
    case "MissingData":
    case "SourceUnavailable":
    case "Unsupported":
      return { code: ExitCode.Usage, message: `invalid configuration: ${error.message}` }
    case "TokenStoreError":
      // The same words and code as the commands' own check of a profile name (`checkProfile`).
      if (error.reason === "InvalidProfile") {
        return {
          code: ExitCode.Usage,
          message: (error as { description?: string }).description ?? error.message,
          hint: "see subauth <command> --help"
        }
      }
      return isKeychainFailure(error)
        ? { code: ExitCode.Failure, message: error.message, hint: `${keychainAdvice(platform)} Or use --store file.` }
        : { code: ExitCode.Failure, message: error.message }
    default:
      return { code: ExitCode.Failure, message: error.message }
  }
}

/** The report of a failure cause: its first expected error, else a defect by kind only. */
export const reportCause = (cause: Cause.Cause<unknown>, platform?: string): Report => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return report(failure.value, platform)
  if (Cause.isInterruptedOnly(cause)) return { code: 130, message: "cancelled" }
  const defect = Cause.dieOption(cause)
  const kind = Option.match(defect, {
    onNone: () => "unknown",
    onSome: (d) => (d instanceof Error ? d.name : typeof d)
  })
  return { code: ExitCode.Failure, message: `unexpected error (${kind}); please report it with the command you ran` }
}

/**
 * A command's exit code; a failure is reported on stderr first, in one or two
 * lines (`error:` and `hint:`), and what caused it in the debug log.
 */
export const exitCode = (exit: Exit.Exit<number, unknown>): Effect.Effect<number, never, Output | Settings> =>
  exit._tag === "Success" ? Effect.succeed(exit.value) : reportFailure(exit.cause)

/** The cause of a failure as the platform put it, for the debug log: the error's own message and its causes. */
const causeText = (error: unknown): string | undefined => {
  const parts: Array<string> = []
  let c = (error as { cause?: unknown } | undefined)?.cause
  for (let depth = 0; c !== undefined && c !== null && depth < 4; depth++) {
    parts.push(c instanceof Error ? `${c.name}: ${c.message}` : typeof c === "object" && "message" in c ? String(c.message) : String(c))
    c = (c as { cause?: unknown }).cause
  }
  return parts.length === 0 ? undefined : parts.join("; caused by ")
}

/**
 * Reports a failure (nothing for an empty message) and returns its exit code.
 * The error's message as it was and its cause go to the debug log.
 */
export const reportFailure = (cause: Cause.Cause<unknown>): Effect.Effect<number, never, Output | Settings> =>
  Effect.gen(function*() {
    const output = yield* Output
    const settings = yield* Settings
    const report = reportCause(cause, settings.platform)
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && tagged(failure.value)) {
      const raw = causeText(failure.value)
      if (failure.value.message !== report.message || raw !== undefined) {
        yield* Effect.logDebug(`${failure.value._tag}: ${failure.value.message}${raw !== undefined ? `; cause: ${raw}` : ""}`)
      }
    }
    if (report.message !== "") {
      yield* output.info(`${output.style.red("error:")} ${report.message}`)
      if (report.hint !== undefined) yield* output.info(`${output.style.dim("hint:")} ${report.hint}`)
    }
    return report.code
  })
