/**
 * The broker's errors: keys and ciphertexts ({@link VaultError}), the
 * database ({@link DatabaseError}), and what a request asked for that cannot
 * be done ({@link BrokerError}, which the API answers with a status and a
 * stable `code`). None of them ever holds a token, a key or a ciphertext.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Master keys, data keys and ciphertexts.
 *
 * - `NoMasterKey`: none is configured where one is needed.
 * - `InvalidMasterKey`: the configured value is not base64 of 32 bytes.
 * - `UnknownMasterKey`: a data key is wrapped by a master key that is not configured.
 * - `WrongMasterKey`: a data key does not unwrap with the key its id names.
 * - `DecryptFailed`: a ciphertext fails authentication: tampered, or copied to
 *   another tenant, user or column.
 * - `Malformed`: a stored value is not a ciphertext of ours.
 * - `NoDataKey`: the tenant has no data key (it was deleted).
 *
 * @since 0.1.0
 * @category errors
 */
export class VaultError extends Schema.TaggedError<VaultError>("@subauth/broker/VaultError")("VaultError", {
  reason: Schema.Literal("NoMasterKey", "InvalidMasterKey", "UnknownMasterKey", "WrongMasterKey", "DecryptFailed", "Malformed", "NoDataKey"),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.description
  }
}

/**
 * The database could not be reached or did not do what was asked; the
 * description names the operation, never a value.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>("@subauth/broker/DatabaseError")("DatabaseError", {
  reason: Schema.Literal("Unavailable", "Failed", "MigrationFailed", "NotMigrated"),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.description
  }
}

/**
 * A request the broker refuses, with the HTTP status the API answers.
 *
 * @since 0.1.0
 * @category models
 */
export const Code = Schema.Literal(
  "invalid_request",
  "unauthorized",
  "not_found",
  "not_connected",
  "reauth_required",
  "session_not_pending",
  "consent_required",
  "too_many_sessions",
  "refresh_busy",
  "issuer_unavailable",
  "payload_too_large",
  "database_unavailable",
  "internal_error",
  "different_account"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Code = typeof Code.Type

/**
 * The HTTP status of each code.
 *
 * @since 0.1.0
 * @category constants
 */
export const statusOf: Record<Code, number> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  not_connected: 404,
  reauth_required: 409,
  session_not_pending: 409,
  consent_required: 409,
  too_many_sessions: 429,
  refresh_busy: 503,
  issuer_unavailable: 503,
  payload_too_large: 413,
  database_unavailable: 503,
  internal_error: 500,
  different_account: 409
}

/**
 * @since 0.1.0
 * @category errors
 */
export class BrokerError extends Schema.TaggedError<BrokerError>("@subauth/broker/BrokerError")("BrokerError", {
  code: Code,
  description: Schema.String,
  /** For `reauth_required`: why the sign-in ended (`RefreshTokenReused`, …). */
  reason: Schema.optional(Schema.String),
  /** Seconds after which trying again may succeed. */
  retryAfter: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return this.description
  }
}
