/**
 * Why a login did not complete. One class, a `reason` code per failure, and a
 * message that says what to do next. Failures of the token endpoint itself stay
 * `TokenEndpointError` / `TransportError`; id token checks are `ClaimsError`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Printable from "./Printable.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class LoginError extends Schema.TaggedError<LoginError>("@subauth/core/LoginError")("LoginError", {
  reason: Schema.Literal(
    /** The state in a pasted redirect is not this login's. */
    "StateMismatch",
    /** The provider redirected back with `error=`. */
    "AuthorizationDenied",
    /** `access_denied` with `missing_codex_entitlement`: the workspace has no Codex. */
    "MissingCodexEntitlement",
    "MissingCode",
    "Cancelled",
    "Timeout",
    "PortInUse",
    /** `usercode` answered 404: device codes are off for this account or server. */
    "DeviceLoginDisabled",
    "DeviceCodeExpired",
    "DeviceAuthFailed",
    "InvalidInput",
    "NotInteractive",
    "ConsentRequired",
    "ConsentDeclined"
  ),
  description: Schema.String
}) {
  override get message(): string {
    return this.description
  }
}

/**
 * The texts of the common failures, in one place. `error` and `description`
 * come from the redirect (anyone can craft one): control characters are
 * removed and the length is capped before they become the message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAuthorizationError = (error: string, description: string | undefined): LoginError =>
  error === "access_denied" && /missing_codex_entitlement/i.test(description ?? "")
    ? new LoginError({
      reason: "MissingCodexEntitlement",
      description:
        "Codex is not enabled for your workspace. Contact your workspace administrator to request access to Codex."
    })
    : new LoginError({
      reason: "AuthorizationDenied",
      description: `sign-in failed: ${Printable.line((description ?? error).slice(0, 300))}`
    })
