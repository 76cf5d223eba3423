/**
 * The loopback HTTP server a browser login redirects to. Core decides what each
 * request gets (see `BrowserLogin`); a platform layer binds the socket, on
 * 127.0.0.1 only (`NodeCallbackServer` in `@subauth/node`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { LoginError } from "./LoginError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CallbackRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  /** Length of the request target (path and query), to refuse oversized ones. */
  readonly targetLength: number
  /**
   * The request's headers, names lower-cased. A platform layer should pass
   * them: without them, a `/cancel` from a web page cannot be told from one
   * from a program.
   */
  readonly headers?: Readonly<Record<string, string | undefined>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CallbackResponse {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions {
  /**
   * Ports to try in order; 0 picks a free one. On the first, a stale server is
   * asked to exit (`GET /cancel`) before retrying.
   */
  readonly ports: readonly [number, ...Array<number>]
  readonly handler: (request: CallbackRequest) => Effect.Effect<CallbackResponse>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CallbackServer extends Context.Tag("@subauth/core/CallbackServer")<CallbackServer, {
  /** Serves `handler` on 127.0.0.1 until the scope closes; fails with `PortInUse`. */
  readonly listen: (options: ListenOptions) => Effect.Effect<{ readonly port: number }, LoginError, Scope.Scope>
}>() {}
