/**
 * What can go wrong with a model turn on the Codex backend, beside the
 * transport (`TransportError`) and the tokens (`TokenManager.Error`): a usage
 * limit, or an answer that is not a complete turn. One class each, a `reason`
 * code per failure, and a message that says what to do next.
 *
 * @see protocol.md §5.5, §5.6
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * The plan's usage limit is reached (HTTP 429 `usage_limit_reached`), or the
 * plan does not include Codex at all (`usage_not_included`). Never retried:
 * it only passes when the limit resets.
 *
 * @see protocol.md §5.6, §9 (fixture `backend-usage-limit-429.json`)
 * @since 0.1.0
 * @category errors
 */
export class UsageLimitReached extends Schema.TaggedError<UsageLimitReached>("@subauth/core/UsageLimitReached")(
  "UsageLimitReached",
  {
    reason: Schema.Literal("UsageLimitReached", "UsageNotIncluded"),
    planType: Schema.optional(Schema.String),
    resetsAt: Schema.optional(Schema.DateTimeUtcFromSelf),
    resetsInSeconds: Schema.optional(Schema.Number),
    description: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const plan = this.planType !== undefined ? `the ChatGPT ${this.planType} plan` : "the ChatGPT plan"
    if (this.reason === "UsageNotIncluded") {
      return `${plan} does not include Codex usage; upgrade the plan (https://chatgpt.com/explore/pro) or use an API key`
    }
    const when = this.resetsAt !== undefined
      ? `; it resets at ${DateTime.formatIso(this.resetsAt)}${
        this.resetsInSeconds !== undefined ? ` (in ${Duration.format(Duration.seconds(Math.ceil(this.resetsInSeconds)))})` : ""
      }; try again then`
      : this.resetsInSeconds !== undefined
      ? `; it resets in ${Duration.format(Duration.seconds(Math.ceil(this.resetsInSeconds)))}; try again then`
      : "; try again later"
    return `usage limit of ${plan} reached${when}, or add credits at https://chatgpt.com/codex/settings/usage`
  }
}

/**
 * The backend answered, but not with a complete turn.
 *
 * - `ContextLengthExceeded`, `QuotaExceeded`, `PolicyViolation`,
 *   `InvalidRequest`: the request cannot succeed as it is (`code` and
 *   `description` are the backend's).
 * - `ModelNotFound`: the backend does not serve the model asked for to this
 *   subscription (`"The '…' model is not supported when using Codex with a
 *   ChatGPT account."`).
 * - `Overloaded`, `RateLimited`: the model is busy; try again later
 *   (`retryAfter` when the backend said).
 * - `Unauthorized`: the access token was refused even after it was renewed.
 * - `Forbidden`: a 403 (no Codex access, or a proxy in the way).
 * - `Failed`: the turn failed (`response.failed`).
 * - `Incomplete`: kept for compatibility; no longer raised, since an answer
 *   the backend ends early (`response.incomplete`) is an answer
 *   (`SubscriptionLLM.Result.incomplete`).
 * - `StreamClosed`: the stream ended before `response.completed`.
 * - `InvalidResponse`: an event or body that is not what the protocol says.
 *
 * @see protocol.md §5.5, §5.6
 * @since 0.1.0
 * @category errors
 */
export class ResponseError extends Schema.TaggedError<ResponseError>("@subauth/core/ResponseError")("ResponseError", {
  reason: Schema.Literal(
    "ContextLengthExceeded",
    "QuotaExceeded",
    "PolicyViolation",
    "InvalidRequest",
    "ModelNotFound",
    "Overloaded",
    "RateLimited",
    "Unauthorized",
    "Forbidden",
    "Failed",
    "Incomplete",
    "StreamClosed",
    "InvalidResponse"
  ),
  status: Schema.optional(Schema.Number),
  code: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.DurationFromSelf)
}) {
  override get message(): string {
    const detail = [this.code && `"${this.code}"`, this.description].filter(Boolean).join(": ")
    const suffix = detail ? ` (${detail})` : ""
    const status = this.status !== undefined ? ` (status ${this.status})` : ""
    switch (this.reason) {
      case "ContextLengthExceeded":
        return `the input is longer than the model's context window${suffix}; shorten it or start a new conversation`
      case "QuotaExceeded":
        return `the account has no quota left for this request${suffix}; see https://chatgpt.com/codex/settings/usage`
      case "PolicyViolation":
        return `the backend refused the request under its usage policy${suffix}`
      case "InvalidRequest":
        return `the backend rejected the request${status}${suffix}; check the model name and options`
      case "ModelNotFound":
        return `the backend does not serve this model to the subscription${suffix}; its catalog lists the models it does`
      case "Overloaded":
        return `the model is overloaded${suffix}; try again in a moment`
      case "RateLimited":
        return `the backend is rate limiting requests${suffix}; try again ${
          this.retryAfter !== undefined ? `in ${Duration.format(this.retryAfter)}` : "later"
        }`
      case "Unauthorized":
        return `the backend refused the access token, also after renewing it${suffix}; run "subauth login" to sign in again`
      case "Forbidden":
        return `the backend refused access${status}${suffix}; the account may not include Codex, or a proxy blocked the request`
      case "Failed":
        return `the model failed to complete the response${suffix}; try again`
      case "Incomplete":
        return `the response is incomplete${suffix}`
      case "StreamClosed":
        return `the response stream ended before "response.completed"${suffix}; the answer is incomplete, try again`
      case "InvalidResponse":
        return `the backend sent something unexpected${suffix}`
    }
  }
}
