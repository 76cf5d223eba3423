/**
 * The token lifecycle on Node, with its HTTP client wired: `node:http`, which
 * sends headers in the order given (the Codex CLI's order; `fetch` sorts them).
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { Provider, TokenStore } from "@subauth/core"
import * as TokenManager from "@subauth/core/TokenManager"
import * as Layer from "effect/Layer"

/**
 * `TokenManager.layer` with Node's HTTP client provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: TokenManager.Options = {}
): Layer.Layer<TokenManager.TokenManager, never, TokenStore.TokenStore | Provider.Provider> =>
  TokenManager.layer(options).pipe(Layer.provide(NodeHttpClient.layer))
