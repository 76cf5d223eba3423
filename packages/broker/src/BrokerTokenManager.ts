/**
 * A `TokenManager` whose tokens come from a broker: the program that uses a
 * subscription (`SubscriptionLLM`, the `@effect/ai` model, the proxy) runs
 * unchanged against a user's broker-held sign-in, and never holds a refresh
 * token. Access tokens are kept in memory until a minute before they expire;
 * concurrent callers share one request; a token the backend refuses is
 * replaced through the broker (`rejected_access_token`).
 *
 * ```ts
 * const llm = SubscriptionLLM.layer().pipe(
 *   Layer.provide(BrokerTokenManager.layer({ url, apiKey, userId: "alice" })),
 *   Layer.provide(NodeHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import { AuthError, TokenManager, TokenSet } from "@subauth/core"
import { Clock, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as Api from "./BrokerApi.js"
import * as BrokerClient from "./BrokerClient.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends BrokerClient.Options {
  /** The user whose sign-in the service's own handle uses; `forProfile` takes others. */
  readonly userId: string
  /** Ask for a new token this long before the one held expires. Default 60 seconds. */
  readonly leeway?: Duration.DurationInput
  /** A label for the broker's audit trail (an agent session, a job). */
  readonly label?: string
}

// The reasons a dead sign-in can have (core's, but "not signed in", which the broker answers with 404).
const isReauthReason = Schema.is(AuthError.ReauthRequired.fields.reason)

// What the broker's answers mean to a program that wanted a token.
const toError = (userId: string) => (error: unknown): TokenManager.TokenManager.Error => {
  if (error instanceof Api.Conflict && error.error.code === "reauth_required") {
    const given = error.error.reason
    const reason = isReauthReason(given) && given !== "NotSignedIn" ? given : "RefreshRejected"
    return new AuthError.ReauthRequired({
      reason,
      profile: userId,
      status: 409,
      description: error.error.message
    })
  }
  if (error instanceof Api.NotFound) {
    return new AuthError.ReauthRequired({ reason: "NotSignedIn", profile: userId, status: 404, description: error.error.message })
  }
  if (error instanceof Api.Unavailable || error instanceof Api.TooManyRequests) {
    return new AuthError.TransportError({
      reason: error instanceof Api.Unavailable ? "ServerError" : "RateLimited",
      endpoint: "broker token",
      status: error.status,
      description: error.error.message
    })
  }
  if (
    error instanceof Api.Unauthorized || error instanceof Api.InvalidRequest || error instanceof Api.Internal ||
    error instanceof Api.Conflict
  ) {
    return new AuthError.TokenEndpointError({
      reason: "ErrorResponse",
      endpoint: "broker token",
      status: error.status,
      code: error.error.code,
      description: error.error.message
    })
  }
  const tag = (error as { _tag?: unknown })._tag
  return tag === "RequestError"
    ? new AuthError.TransportError({ reason: "ConnectionFailed", endpoint: "broker token", description: "the broker could not be reached" })
    : new AuthError.TokenEndpointError({
      reason: "InvalidResponse",
      endpoint: "broker token",
      status: 0,
      description: "the broker's answer could not be read"
    })
}

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TokenManager.TokenManager.Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* BrokerClient.make(options)
    const leewayMillis = Duration.toMillis(Duration.decode(options.leeway ?? Duration.minutes(1)))
    const handles = new Map<string, TokenManager.TokenManager.Handle>()

    const makeHandle = (userId: string): TokenManager.TokenManager.Handle => {
      let current: TokenSet.TokenSet | undefined
      const flight = Effect.unsafeMakeSemaphore(1)

      const fetchToken = (payload: { readonly minTtl?: number; readonly rejected?: Redacted.Redacted<string> }) =>
        client.users.token({
          path: { user_id: userId },
          payload: new Api.TokenRequest({
            ...(payload.minTtl !== undefined && payload.minTtl > 0 ? { min_ttl_seconds: payload.minTtl } : {}),
            ...(options.label !== undefined ? { label: options.label } : {}),
            ...(payload.rejected !== undefined ? { rejected_access_token: payload.rejected } : {})
          })
        }).pipe(
          Effect.mapError(toError(userId)),
          Effect.flatMap((token) =>
            Effect.map(Clock.currentTimeMillis, (now) => {
              current = new TokenSet.TokenSet({
                accessToken: token.access_token,
                refreshToken: Option.none(),
                idToken: Option.none(),
                expiresAt: token.expires_at,
                obtainedAt: DateTime.unsafeMake(now),
                accountId: Option.fromNullable(token.account_id),
                planType: Option.none(),
                email: Option.none(),
                userId: Option.none()
              })
              return current
            })
          )
        )

      const usable = (tokens: TokenSet.TokenSet | undefined, now: number, validityMillis: number): tokens is TokenSet.TokenSet =>
        tokens !== undefined && now + Math.max(leewayMillis, validityMillis) < DateTime.toEpochMillis(tokens.expiresAt)

      const getValidFor = (validity: Duration.DurationInput) => {
        const ms = Duration.toMillis(Duration.decode(validity))
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          usable(current, now, ms)
            ? Effect.succeed(current)
            : flight.withPermits(1)(
              Effect.flatMap(Clock.currentTimeMillis, (later) =>
                usable(current, later, ms) ? Effect.succeed(current) : fetchToken({ minTtl: Math.ceil(ms / 1000) }))
            ))
      }

      const get = getValidFor(0)
      return {
        profile: userId,
        get,
        getValidFor,
        accessToken: Effect.map(get, (tokens) => tokens.accessToken),
        recover: (rejected) =>
          flight.withPermits(1)(Effect.suspend(() =>
            current !== undefined && !TokenSet.hasAccessToken(current, rejected) ? Effect.succeed(current) : fetchToken({ rejected })
          ))
      }
    }

    const forProfile = (userId: string) => {
      let handle = handles.get(userId)
      if (handle === undefined) {
        handle = makeHandle(userId)
        handles.set(userId, handle)
        // Programs use a few users each; a long-lived one with many is bounded all the same.
        if (handles.size > TokenManager.DEFAULT_MAX_PROFILES) handles.delete(handles.keys().next().value!)
      }
      return handle
    }

    const own = makeHandle(options.userId)
    return { ...own, forProfile: (userId) => (userId === options.userId ? own : forProfile(userId)) }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenManager.TokenManager, never, HttpClient.HttpClient> =>
  Layer.effect(TokenManager.TokenManager, make(options))
