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
 *   failures are retried with backoff, at most 4 attempts within 20 seconds,
 *   and a request that may have reached the issuer unanswered at most once
 *   (see `TokenEndpoint.retryTransient`).
 * - {@link TokenManager.Handle.recover} is for callers whose access token was
 *   rejected (HTTP 401): re-read the store, else refresh once.
 * - {@link TokenManager.LocalHandle.refreshIfObtainedBefore} keeps an idle
 *   sign-in alive (`refresh_reason: scheduled`), adopting what another
 *   process refreshed in the meantime.
 *
 * All time comes from `Clock`, so tests drive it with `TestClock`.
 *
 * @see protocol.md §3
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { ReauthRequired, type TokenEndpointError, TransportError } from "./AuthError.js"
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
    /**
     * {@link get}, and also valid for at least `validity` from now: refreshed
     * sooner when the token has less left. A token that could never live that
     * long (its whole lifetime is shorter) is returned once refreshed.
     */
    readonly getValidFor: (validity: Duration.DurationInput) => Effect.Effect<TokenSet.TokenSet, Error>
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

  /**
   * The handle of a manager that holds the refresh token itself (what
   * {@link make} builds), with what only such a manager can do.
   *
   * @since 0.1.0
   * @category models
   */
  export interface LocalHandle extends Handle {
    /**
     * Tokens obtained at or after `before`: the stored ones if another process
     * refreshed since, else from one refresh (`refresh_reason: scheduled`),
     * under the store's lock like any other. For keeping a sign-in alive whose
     * refresh token has not been used for a while, so that it does not expire
     * unseen. Tokens that are due are refreshed too, as by `get`; tokens
     * without a refresh token are returned while they are valid.
     */
    readonly refreshIfObtainedBefore: (before: DateTime.DateTime) => Effect.Effect<TokenSet.TokenSet, Error>
  }

  /**
   * {@link Service} with {@link LocalHandle}s.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Local extends LocalHandle {
    readonly forProfile: (profile: string) => LocalHandle
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenManager extends Context.Tag("@subauth/core/TokenManager")<TokenManager, TokenManager.Service>() {}

/**
 * What happened to a profile's tokens, for an observer (a server's audit log):
 * a refresh that succeeded (after the new tokens were stored), or one that
 * failed, with the error the callers get. Observers run while the store's lock
 * for the profile is held, so they see the store as the refresh left it.
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Refreshed"; readonly profile: string; readonly tokens: TokenSet.TokenSet; readonly reason: TokenEndpoint.RefreshReason }
  | { readonly _tag: "RefreshFailed"; readonly profile: string; readonly error: TokenManager.Error; readonly reason: TokenEndpoint.RefreshReason }

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
  /**
   * Retries of a failed refresh (see `TokenEndpoint.retryTransient`). Default
   * 4 attempts from 200 ms, none started after 20 seconds: with the request
   * timeout (30 seconds) a refresh holds the store's lock at most 50 seconds,
   * less than other processes wait for it (`NodeTokenStore`: 60 seconds).
   */
  readonly retry?: TokenEndpoint.RetryOptions
  /**
   * Profiles whose state (cached tokens, a known dead login) is kept in
   * memory; beyond it the least recently used idle one is dropped, and is read
   * from the store again when next asked for. Default {@link DEFAULT_MAX_PROFILES}.
   */
  readonly maxProfiles?: number
  /** Told of every refresh and its outcome; its failures are logged and ignored. */
  readonly onEvent?: (event: Event) => Effect.Effect<void>
}

/**
 * A server holds one profile per user; memory stays bounded all the same.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_PROFILES = 10_000

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
export const refreshAt = (tokens: TokenSet.TokenSet, leewayMillis: number): number =>
  refreshInstant(factsOf(tokens), leewayMillis)

/**
 * {@link refreshAt} from the bare facts (epoch ms), for callers that keep
 * tokens elsewhere and know only their times and whether a refresh token exists.
 *
 * @since 0.1.0
 * @category validators
 */
export const refreshInstant = (
  tokens: { readonly expiresAt: number; readonly obtainedAt: number; readonly renewable: boolean },
  leewayMillis: number
): number => {
  if (!tokens.renewable) return tokens.expiresAt
  const lifetime = tokens.expiresAt - tokens.obtainedAt
  return tokens.expiresAt - (lifetime > leewayMillis ? leewayMillis : Math.max(0, lifetime) / 2)
}

/**
 * Whether tokens with these facts (epoch ms) may be handed out at `now` to a
 * caller that needs them valid for `validityMillis` more: not due for a
 * refresh, and valid that long, unless no refresh could give that (their
 * whole lifetime is shorter).
 *
 * @since 0.1.0
 * @category validators
 */
export const isFreshFor = (
  tokens: { readonly expiresAt: number; readonly obtainedAt: number; readonly renewable: boolean },
  now: number,
  leewayMillis: number,
  validityMillis: number
): boolean =>
  now < refreshInstant(tokens, leewayMillis) &&
  (now + validityMillis < tokens.expiresAt || validityMillis === 0 || tokens.expiresAt - tokens.obtainedAt <= validityMillis)

const factsOf = (tokens: TokenSet.TokenSet) => ({
  expiresAt: DateTime.toEpochMillis(tokens.expiresAt),
  obtainedAt: DateTime.toEpochMillis(tokens.obtainedAt),
  renewable: Option.isSome(tokens.refreshToken)
})

interface Cached {
  readonly tokens: TokenSet.TokenSet
  readonly facts: ReturnType<typeof factsOf>
  readonly refreshAt: number
  readonly expiresAt: number
  readonly ok: Effect.Effect<TokenSet.TokenSet>
}

const cache = (tokens: TokenSet.TokenSet, leewayMillis: number): Cached => ({
  tokens,
  facts: factsOf(tokens),
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
): Effect.Effect<TokenManager.Local, never, TokenStore | Provider | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const leeway = Duration.decode(options.leeway ?? DEFAULT_LEEWAY)
    if (!Duration.isFinite(leeway)) {
      return yield* Effect.die(new TypeError(`"leeway" must be a finite duration, got ${Duration.format(leeway)}`))
    }
    const maxProfiles = options.maxProfiles ?? DEFAULT_MAX_PROFILES
    if (!Number.isInteger(maxProfiles) || maxProfiles < 1) {
      return yield* Effect.die(new TypeError(`"maxProfiles" must be a positive integer, got ${maxProfiles}`))
    }
    const leewayMillis = Duration.toMillis(leeway)
    const satisfies = (c: Cached, now: number, validity: number) => isFreshFor(c.facts, now, leewayMillis, validity)
    const store = yield* TokenStore
    const context = yield* Effect.context<Provider | HttpClient.HttpClient>()
    const scope = yield* Effect.scope
    const observe = (event: Event): Effect.Effect<void> =>
      options.onEvent === undefined ? Effect.void : options.onEvent(event).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("a token event observer failed", cause))
      )

    interface Entry {
      readonly handle: TokenManager.LocalHandle
      /** A renewal is running or awaited: the entry may not be dropped. */
      readonly busy: () => boolean
    }
    // Insertion order is recency order: a hit moves its entry to the end.
    const entries = new Map<string, Entry>()

    const makeEntry = (profile: string): Entry => {
      let current: Cached | undefined
      let dead: { readonly error: ReauthRequired; readonly tokens: TokenSet.TokenSet } | undefined
      let inflight: { readonly deferred: Deferred.Deferred<TokenSet.TokenSet, TokenManager.Error>; readonly validity: number } | undefined

      const adopt = (tokens: TokenSet.TokenSet): TokenSet.TokenSet => {
        current = cache(tokens, leewayMillis)
        return tokens
      }


      // The refresh request, retried as `TokenEndpoint.retryTransient` decides (protocol.md §3): a request that
      // may have reached the issuer without an answer is repeated once, with the same refresh token. That retry
      // can only succeed if the issuer had not acted on the first; if it had, the token is spent and the retry is
      // answered `refresh_token_reused`: the sign-in is dead (its successor was lost with the answer), and that
      // is what the caller is told (`RefreshAnswerLost`), not "try again later". If the retry gets no answer
      // either, nobody can know whether the token was spent; the error says so.
      const sendRefresh = (tokens: TokenSet.TokenSet, refreshToken: Redacted.Redacted<string>, reason: TokenEndpoint.RefreshReason) =>
        Effect.uninterruptibleMask((restore) => {
          const unanswered: Array<TransportError> = []
          return restore(
            Effect.logDebug("refreshing access token").pipe(
              Effect.zipRight(TokenEndpoint.refresh({ refreshToken, reason, profile }, options.request)),
              Effect.tapError((error) =>
                Effect.zipRight(
                  Effect.sync(() => {
                    if (error._tag === "TransportError" && TokenEndpoint.mayHaveArrived(error)) unanswered.push(error)
                  }),
                  Effect.logDebug(`refresh attempt failed: ${error.message}`)
                )
              ),
              TokenEndpoint.retryTransient(options.retry),
              Effect.mapError((error) => unanswered.length === 0 ? error : afterUnanswered(error, unanswered))
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
                yield* observe({ _tag: "Refreshed", profile, tokens: next, reason })
                return adopt(next)
              })
            )
          )
        })

      // What a refresh that failed after an unanswered attempt means (see `sendRefresh`).
      const afterUnanswered = (
        error: ReauthRequired | TokenEndpointError | TransportError,
        unanswered: ReadonlyArray<TransportError>
      ): ReauthRequired | TokenEndpointError | TransportError => {
        const lost = unanswered[0]!.description ?? unanswered[0]!.reason
        if (error._tag === "ReauthRequired" && error.reason === "RefreshTokenReused") {
          return new ReauthRequired({
            reason: "RefreshAnswerLost",
            profile,
            ...(error.status !== undefined ? { status: error.status } : {}),
            ...(error.code !== undefined ? { code: error.code } : {}),
            description: `an earlier attempt got no answer (${lost}); the issuer had spent the refresh token`
          })
        }
        if (error._tag === "TransportError" && TokenEndpoint.mayHaveArrived(error)) {
          return new TransportError({
            reason: error.reason,
            endpoint: error.endpoint,
            ...(error.status !== undefined ? { status: error.status } : {}),
            description: `${error.description ?? lost}${unanswered.length > 1 ? `, ${unanswered.length} times` : ""}; ` +
              `if the issuer received the request it spent the refresh token, and the next try will say it was ` +
              `already used: then sign in again`
          })
        }
        return error
      }

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
                if ((error.reason === "RefreshTokenReused" || error.reason === "RefreshAnswerLost") && trySuccessor) {
                  const again = yield* store.get(profile)
                  if (Option.isSome(again) && !TokenSet.sameRefreshToken(again.value, tokens)) {
                    const successor = again.value
                    return (yield* Clock.currentTimeMillis) < refreshAt(successor, leewayMillis)
                      ? adopt(successor)
                      : yield* refreshFrom(successor, reason, false)
                  }
                }
                return yield* Effect.zipRight(observe({ _tag: "RefreshFailed", profile, error, reason }), bury(error, tokens))
              })
            ),
            Effect.tapErrorTag("TokenEndpointError", (error) => observe({ _tag: "RefreshFailed", profile, error, reason })),
            Effect.tapErrorTag("TransportError", (error) => observe({ _tag: "RefreshFailed", profile, error, reason }))
          )
        })

      // A login known to be dead is reported from a plain read: no lock, no network.
      // `accept`: which stored tokens need no refresh, when not the usual rule (fresh for `validity`).
      const renew = (
        reason: TokenEndpoint.RefreshReason,
        rejected: Redacted.Redacted<string> | undefined,
        validity: number,
        accept?: (tokens: TokenSet.TokenSet, now: number) => boolean
      ): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> =>
        Effect.suspend(() => {
          const known = dead
          if (known === undefined) {
            // The first load of a plain request reads without the lock (see `loadOrRenew`); a sweep's asks under it.
            return current === undefined && rejected === undefined && accept === undefined
              ? loadOrRenew(reason, validity)
              : renewLocked(reason, rejected, validity, accept)
          }
          return Effect.flatMap(store.get(profile), (stored) =>
            Option.isSome(stored) && TokenSet.sameRefreshToken(known.tokens, stored.value)
              ? Effect.fail(known.error)
              : renewLocked(reason, rejected, validity, accept))
        })

      // The first load takes no lock when the stored tokens are valid: a store replaces a token set whole (a
      // rename, one keychain entry), so a read without the lock sees a whole set, and a set valid beyond the
      // leeway is being refreshed by nobody (a refresh starts when tokens are due, or for a rejected token, which
      // takes the lock below); a rotation elsewhere leaves its access token valid. Due tokens take the lock and
      // are read again under it. A `subauth token` in a loop thus reads one file and writes none.
      const loadOrRenew = (
        reason: TokenEndpoint.RefreshReason,
        validity: number
      ): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> =>
        Effect.flatMap(Effect.zip(store.get(profile), Clock.currentTimeMillis), ([stored, now]) =>
          Option.isSome(stored) && satisfies(cache(stored.value, leewayMillis), now, validity)
            ? Effect.as(Effect.logDebug("using stored tokens"), adopt(stored.value))
            : renewLocked(reason, undefined, validity, undefined)).pipe(Effect.annotateLogs({ profile, refresh_reason: reason }))

      const renewLocked = (
        reason: TokenEndpoint.RefreshReason,
        rejected: Redacted.Redacted<string> | undefined,
        validity: number,
        accept: ((tokens: TokenSet.TokenSet, now: number) => boolean) | undefined
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
            const usable = accept !== undefined
              ? accept(tokens, now)
              : rejected === undefined
              ? satisfies(cache(tokens, leewayMillis), now, validity)
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
      const singleFlight = (validity: number, work: Effect.Effect<TokenSet.TokenSet, TokenManager.Error>) =>
        Effect.suspend(() => {
          if (inflight !== undefined) return Deferred.await(inflight.deferred)
          const deferred = Deferred.unsafeMake<TokenSet.TokenSet, TokenManager.Error>(FiberId.none)
          inflight = { deferred, validity }
          // Interruptible whatever the caller is (an HTTP handler may run uninterruptibly): only the closing scope
          // interrupts it, and the write of rotated tokens is protected inside it.
          return Effect.forkIn(Effect.interruptible(work), scope).pipe(
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

      const proactive = singleFlight(0, renew("proactive_expiry", undefined, 0))

      const get: Effect.Effect<TokenSet.TokenSet, TokenManager.Error> = Effect.clockWith((clock) => {
        const c = current
        return c !== undefined && clock.unsafeCurrentTimeMillis() < c.refreshAt ? c.ok : proactive
      })

      const getValidFor = (validity: Duration.DurationInput): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> => {
        const ms = Math.max(0, Duration.toMillis(Duration.decode(validity)))
        if (!Number.isFinite(ms)) return Effect.die(new TypeError(`"validity" must be a finite duration`))
        const attempt = Effect.clockWith((clock) => {
          const c = current
          if (c !== undefined && satisfies(c, clock.unsafeCurrentTimeMillis(), ms)) return c.ok
          // A renewal already running for a shorter validity may end with too short a token: then one more.
          const joined = inflight !== undefined && inflight.validity < ms
          const renewal = singleFlight(ms, renew("proactive_expiry", undefined, ms))
          return joined
            ? Effect.zipRight(Effect.ignore(renewal), Effect.suspend(() => {
              const after = current
              return after !== undefined && satisfies(after, clock.unsafeCurrentTimeMillis(), ms) ? after.ok : renewal
            }))
            : renewal
        })
        return attempt
      }

      const recover = (rejected: Redacted.Redacted<string>) =>
        Effect.clockWith((clock) => {
          const c = current
          return c !== undefined && !TokenSet.hasAccessToken(c.tokens, rejected) &&
              clock.unsafeCurrentTimeMillis() < c.expiresAt
            ? c.ok
            : singleFlight(0, renew("unauthorized_recovery", rejected, 0))
        })

      // Also refreshed when due anyway: a caller of `get` that joins this renewal must get fresh tokens.
      const refreshIfObtainedBefore = (before: DateTime.DateTime): Effect.Effect<TokenSet.TokenSet, TokenManager.Error> => {
        const cutoff = DateTime.toEpochMillis(before)
        const accept = (tokens: TokenSet.TokenSet, now: number) =>
          satisfies(cache(tokens, leewayMillis), now, 0) &&
          (DateTime.toEpochMillis(tokens.obtainedAt) >= cutoff || Option.isNone(tokens.refreshToken))
        const renewal = singleFlight(0, renew("scheduled", undefined, 0, accept))
        return Effect.clockWith((clock) => {
          const c = current
          if (c !== undefined && accept(c.tokens, clock.unsafeCurrentTimeMillis())) return c.ok
          // A renewal already running may adopt stored tokens obtained before `before`: then one more.
          return inflight !== undefined
            ? Effect.zipRight(Effect.ignore(renewal), Effect.suspend(() => {
              const after = current
              return after !== undefined && accept(after.tokens, clock.unsafeCurrentTimeMillis()) ? after.ok : renewal
            }))
            : renewal
        })
      }

      return {
        handle: {
          profile,
          get,
          getValidFor,
          accessToken: Effect.map(get, (tokens) => tokens.accessToken),
          recover,
          refreshIfObtainedBefore
        },
        busy: () => inflight !== undefined
      }
    }

    // The least recently used idle entries go first; busy ones, and the one just asked for, stay whatever the count.
    const evict = (keep: string) => {
      for (const [profile, entry] of entries) {
        if (entries.size <= maxProfiles) return
        if (profile !== keep && !entry.busy()) entries.delete(profile)
      }
    }

    const forProfile = (profile: string): TokenManager.LocalHandle => {
      const found = entries.get(profile)
      if (found !== undefined) {
        entries.delete(profile)
        entries.set(profile, found)
        return found.handle
      }
      const entry = makeEntry(profile)
      entries.set(profile, entry)
      if (entries.size > maxProfiles) evict(profile)
      return entry.handle
    }

    const own = options.profile ?? DEFAULT_PROFILE
    const handle = makeEntry(own).handle
    return { ...handle, forProfile: (profile) => (profile === own ? handle : forProfile(profile)) }
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
