/**
 * "A valid access token, now." The one service every consumer of tokens calls.
 *
 * - While the cached access token is valid beyond the leeway (default 5
 *   minutes) it is returned with no I/O at all.
 * - When it is due, exactly one refresh runs per profile, however many fibers
 *   ask at once (single flight); they all get its result.
 * - The refresh runs under the store's lock, after re-reading the store: tokens
 *   another process already rotated are adopted without a network call.
 * - The rotated tokens are written to the store before anyone gets the new
 *   access token, and a refresh token is never sent twice.
 * - A dead login (`refresh_token_reused|expired|invalidated`, any 401) costs
 *   one request and is remembered until the stored tokens change; transient
 *   failures are retried with backoff, at most 4 attempts.
 * - {@link TokenManager.Handle.recover} is for callers whose access token was
 *   rejected (HTTP 401): re-read the store, else refresh once.
 *
 * All time comes from `Clock`, so tests drive it with `TestClock`.
 *
 * @see protocol.md §3
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import {
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberId,
  Layer,
  Option,
  Redacted,
  Scope
} from "effect"
import { ReauthRequired, type TokenEndpointError, type TransportError } from "./AuthError.js"
import { Provider } from "./Provider.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import * as TokenSet from "./TokenSet.js"
import { DEFAULT_PROFILE, TokenStore, type TokenStoreError } from "./TokenStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace TokenManager {
  /**
   * @since 0.1.0
   * @category models
   */
  export type Error = ReauthRequired | TokenEndpointError | TransportError | TokenStoreError

  /**
   * The token lifecycle of one profile.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Handle {
    readonly profile: string
    /** Tokens whose access token is valid beyond the leeway, refreshed if needed. */
    readonly get: Effect.Effect<TokenSet.TokenSet, Error>
    /** The access token alone. */
    readonly accessToken: Effect.Effect<Redacted.Redacted<string>, Error>
    /**
     * `rejected` was refused by a resource server (HTTP 401): returns tokens
     * with another access token, taken from the store if another process has
     * refreshed, else from one refresh (`refresh_reason: unauthorized_recovery`).
     */
    readonly recover: (rejected: Redacted.Redacted<string>) => Effect.Effect<TokenSet.TokenSet, Error>
  }

  /**
   * The handle of the configured profile, and handles of any other.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service extends Handle {
    readonly forProfile: (profile: string) => Handle
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenManager extends Context.Tag("@subauth/core/TokenManager")<TokenManager, TokenManager.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The profile of the service's own handle. Default `"default"`. */
  readonly profile?: string
  /** Refresh this long before expiry. Default 5 minutes. */
  readonly leeway?: Duration.DurationInput
  /** Timeout and user agent of the refresh request. */
  readonly request?: TokenEndpoint.RequestOptions
  /** Backoff for transient refresh failures. Default 4 attempts from 200 ms. */
  readonly retry?: TokenEndpoint.RetryOptions
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LEEWAY: Duration.Duration = Duration.minutes(5)

/**
 * The instant (epoch ms) from which `tokens` must be refreshed: `expiresAt -
 * leeway`. A token that lives no longer than the leeway is refreshed at half its
 * life instead, so a short-lived token does not cause a refresh on every call;
 * one without a refresh token is used until it expires, since nothing can renew it.
 *
 * @since 0.1.0
 * @category utils
 */
export const refreshAt = (tokens: TokenSet.TokenSet, leewayMillis: number): number => {
  const expiresAt = DateTime.toEpochMillis(tokens.expiresAt)
  if (Option.isNone(tokens.refreshToken)) return expiresAt
  const lifetime = expiresAt - DateTime.toEpochMillis(tokens.obtainedAt)
  return expiresAt - (lifetime > leewayMillis ? leewayMillis : Math.max(0, lifetime) / 2)
}

interface Cached {
  readonly tokens: TokenSet.TokenSet
  readonly refreshAt: number
  readonly expiresAt: number
  readonly ok: Effect.Effect<TokenSet.TokenSet>
}

const cache = (tokens: TokenSet.TokenSet, leewayMillis: number): Cached => ({
  tokens,
  refreshAt: refreshAt(tokens, leewayMillis),
  expiresAt: DateTime.toEpochMillis(tokens.expiresAt),
  ok: Effect.succeed(tokens)
})

// The later of two generations of a profile's tokens.
const newer = (a: TokenSet.TokenSet, b: TokenSet.TokenSet): TokenSet.TokenSet =>
  DateTime.toEpochMillis(b.obtainedAt) > DateTime.toEpochMillis(a.obtainedAt) ? b : a

/**
 * Builds the service. Refreshes run in fibers of the surrounding scope, so a
 * caller that is interrupted never interrupts a refresh half-way; they end with
 * the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<TokenManager.Service, never, TokenStore | Provider | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const leeway = Duration.decode(options.leeway ?? DEFAULT_LEEWAY)
    if (!Duration.isFinite(leeway)) {
      return yield* Effect.die(new TypeError(`"leeway" must be a finite duration, got ${Duration.format(leeway)}`))
    }
    const leewayMillis = Duration.toMillis(leeway)
    const store = yield* TokenStore
    const context = yield* Effect.context<Provider | HttpClient.HttpClient>()
    const scope = yield* Effect.scope
    const handles = new Map<string, TokenManager.Handle>()

    const makeHandle = (profile: string): TokenManager.Handle => {
      let current: Cached | undefined
      let dead: { readonly error: ReauthRequired; readonly tokens: TokenSet.TokenSet } | undefined
      let inflight: Deferred.Deferred<TokenSet.TokenSet, TokenManager.Error> | undefined

      const adopt = (tokens: TokenSet.TokenSet): TokenSet.TokenSet => {
        current = cache(tokens, leewayMillis)
        return tokens
      }

      const sendRefresh = (tokens: TokenSet.TokenSet, refreshToken: Redacted.Redacted<string>, reason: TokenEndpoint.RefreshReason) =>
        Effect.uninterruptibleMask((restore) =>
          restore(
            Effect.logDebug("refreshing access token").pipe(
              Effect.zipRight(TokenEndpoint.refresh({ refreshToken, reason, profile }, options.request)),
              Effect.tapError((error) => Effect.logDebug(`refresh attempt failed: ${error.message}`)),
              TokenEndpoint.retryTransient(options.retry)
            )
          ).pipe(
            // From here on the old refresh token is spent: write the new one down before anything else.
            Effect.flatMap((response) =>
              Effect.gen(function*() {
                const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
                const next = TokenSet.fromResponse(response, now, tokens)
                yield* store.set(profile, next).pipe(
                  Effect.tapError((error) =>
                    Effect.logError(`refreshed tokens could not be stored; keeping them in memory: ${error.message}`).pipe(
                      Effect.zipRight(Effect.sync(() => adopt(next)))
                    )
                  )
                )
                yield* Effect.logInfo(`access token refreshed; valid until ${DateTime.formatIso(next.expiresAt)}`)
                return adopt(next)
              })
            )
          )
        )

      // Remember a permanent failure for the tokens that caused it.
      const bury = (error: ReauthRequired, tokens: TokenSet.TokenSet) =>
        Effect.suspend(() => {
          dead = { error, tokens }
          current = undefined
          return Effect.logWarning(error.message).pipe(Effect.zipRight(Effect.fail(error)))
        })

      // Refreshes `tokens`. If the issuer says their refresh token was already used and the store now
      // holds a successor (a process that refreshed without our lock, e.g. the codex CLI), use that.
      const refreshFrom = (
        tokens: TokenSet.TokenSet,
        reason: TokenEndpoint.RefreshReason,
        trySuccessor: boolean
      ): Effect.Effect<TokenSet.TokenSet, TokenManager.Error, Provider | HttpClient.HttpClient> =>
        Effect.gen(function*() {
          if (Option.isNone(tokens.refreshToken)) return yield* new ReauthRequired({ reason: "NoRefreshToken", profile })
          return yield* sendRefresh(tokens, tokens.refreshToken.value, reason).pipe(
            Effect.catchTag("ReauthRequired", (error) =>
              Effect.gen(function*() {
                if (error.reason === "RefreshTokenReused" && trySuccessor) {
                  const again = yield* store.get(profile)
                  if (Option.isSome(again) && !TokenSet.sameRefreshToken(again.value, tokens)) {
                    const successor = again.value
                    return (yield* Clock.currentTimeMillis) < refreshAt(successor, leewayMillis)
                      ? adopt(successor)
                      : yield* refreshFrom(successor, reason, false)
                  }
                }
                return yield* bury(error, tokens)
              })
            )
          )
        })

      // A login known to be dead is reported from a plain read: no lock, no network.
      const renew = (
        reason: TokenEndpoint.RefreshReason,
        rejected: Redacted.Redacted<string> | undefined
      ): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> =>
        Effect.suspend(() => {
          const known = dead
          if (known === undefined) return renewLocked(reason, rejected)
          return Effect.flatMap(store.get(profile), (stored) =>
            Option.isSome(stored) && TokenSet.sameRefreshToken(known.tokens, stored.value)
              ? Effect.fail(known.error)
              : renewLocked(reason, rejected))
        })

      const renewLocked = (
        reason: TokenEndpoint.RefreshReason,
        rejected: Redacted.Redacted<string> | undefined
      ): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> =>
        store.withLock(
          profile,
          Effect.gen(function*() {
            const stored = yield* store.get(profile)
            if (Option.isNone(stored)) {
              current = undefined
              return yield* new ReauthRequired({ reason: "NotSignedIn", profile })
            }
            // Our own copy is newer only when storing it failed.
            const tokens = current === undefined ? stored.value : newer(stored.value, current.tokens)
            if (dead !== undefined) {
              if (TokenSet.sameRefreshToken(dead.tokens, tokens)) return yield* dead.error
              dead = undefined
            }
            const now = yield* Clock.currentTimeMillis
            const usable = rejected === undefined
              ? now < refreshAt(tokens, leewayMillis)
              : !TokenSet.hasAccessToken(tokens, rejected) && now < DateTime.toEpochMillis(tokens.expiresAt)
            if (usable) {
              if (current === undefined || current.tokens !== tokens) {
                yield* Effect.logDebug("using stored tokens (loaded, or refreshed by another process)")
              }
              return adopt(tokens)
            }
            return yield* refreshFrom(tokens, reason, true)
          })
        ).pipe(
          Effect.annotateLogs({ profile, refresh_reason: reason }),
          Effect.provide(context)
        )

      // One renewal at a time per profile; late callers wait for it.
      const singleFlight = (work: Effect.Effect<TokenSet.TokenSet, TokenManager.Error>) =>
        Effect.suspend(() => {
          if (inflight !== undefined) return Deferred.await(inflight)
          const deferred = Deferred.unsafeMake<TokenSet.TokenSet, TokenManager.Error>(FiberId.none)
          inflight = deferred
          return Effect.forkIn(work, scope).pipe(
            // An observer sees every end, even an interruption before the fiber ran (a closed scope).
            Effect.tap((fiber) =>
              Effect.sync(() =>
                fiber.addObserver((exit) => {
                  inflight = undefined
                  Deferred.unsafeDone(
                    deferred,
                    Exit.isInterrupted(exit)
                      ? Exit.die(new Error("the token refresh was interrupted: the TokenManager's scope has closed"))
                      : exit
                  )
                })
              )
            ),
            Effect.zipRight(Deferred.await(deferred))
          )
        })

      const proactive = singleFlight(renew("proactive_expiry", undefined))

      const get: Effect.Effect<TokenSet.TokenSet, TokenManager.Error> = Effect.clockWith((clock) => {
        const c = current
        return c !== undefined && clock.unsafeCurrentTimeMillis() < c.refreshAt ? c.ok : proactive
      })

      const recover = (rejected: Redacted.Redacted<string>) =>
        Effect.clockWith((clock) => {
          const c = current
          return c !== undefined && !TokenSet.hasAccessToken(c.tokens, rejected) &&
              clock.unsafeCurrentTimeMillis() < c.expiresAt
            ? c.ok
            : singleFlight(renew("unauthorized_recovery", rejected))
        })

      return {
        profile,
        get,
        accessToken: Effect.map(get, (tokens) => tokens.accessToken),
        recover
      }
    }

    const forProfile = (profile: string): TokenManager.Handle => {
      let handle = handles.get(profile)
      if (handle === undefined) {
        handle = makeHandle(profile)
        handles.set(profile, handle)
      }
      return handle
    }

    return { ...forProfile(options.profile ?? DEFAULT_PROFILE), forProfile }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<TokenManager, never, TokenStore | Provider | HttpClient.HttpClient> =>
  Layer.scoped(TokenManager, make(options))

/**
 * Tokens valid beyond the leeway, from the service in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get: Effect.Effect<TokenSet.TokenSet, TokenManager.Error, TokenManager> = Effect.flatMap(
  TokenManager,
  (manager) => manager.get
)

/**
 * @since 0.1.0
 * @category accessors
 */
export const accessToken: Effect.Effect<Redacted.Redacted<string>, TokenManager.Error, TokenManager> = Effect.flatMap(
  TokenManager,
  (manager) => manager.accessToken
)
