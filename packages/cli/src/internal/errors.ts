/**
 * One or two plain lines per failure, with what to do next, and the exit code
 * documented in `--help` and the README. Never a stack trace, never a token:
 * every error class of subauth builds its message without secrets, and
 * anything unexpected is reported by kind only.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { Output } from "../Output.js"

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

/** What a failed command reports, from the error it failed with. */
export const report = (error: unknown): Report => {
  if (!tagged(error)) return { code: ExitCode.Failure, message: "unexpected error" }
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
    default:
      return { code: ExitCode.Failure, message: error.message }
  }
}

/** The report of a failure cause: its first expected error, else a defect by kind only. */
export const reportCause = (cause: Cause.Cause<unknown>): Report => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return report(failure.value)
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
 * lines (`error:` and `hint:`).
 */
export const exitCode = (exit: Exit.Exit<number, unknown>): Effect.Effect<number, never, Output> =>
  exit._tag === "Success" ? Effect.succeed(exit.value) : reportFailure(reportCause(exit.cause))

/** Prints a report (nothing for an empty message) and returns its exit code. */
export const reportFailure = (report: Report): Effect.Effect<number, never, Output> =>
  Effect.gen(function*() {
    const output = yield* Output
    if (report.message !== "") {
      yield* output.info(`${output.style.red("error:")} ${report.message}`)
      if (report.hint !== undefined) yield* output.info(`${output.style.dim("hint:")} ${report.hint}`)
    }
    return report.code
  })
