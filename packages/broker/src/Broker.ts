/**
 * The broker's services composed: vault, audit trail, tenants, connections,
 * connect sessions (with their poll loop), the idle refresh sweep and
 * webhooks (with their deliverer), over a database, a master key, an issuer
 * and an HTTP client. Building it checks first that the configured
 * master keys unwrap every data key in the database, so a wrong key stops the
 * broker at start, before anything is written.
 *
 * ```ts
 * const broker = Broker.layer({ backend: { baseUrl, originator: "codex_cli_rs" } }).pipe(
 *   Layer.provide(KeyWrap.layerLocal(keys)),
 *   Layer.provide(BrokerDatabase.layer(location)),
 *   Layer.provide([Provider.layerOpenAI, NodeHttpClient.layer, SecureRandom.layer])
 * )
 * ```
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { IdTokenVerifier, type Provider, type SecureRandom } from "@subauth/core"
import { Effect, Layer } from "effect"
import * as Audit from "./Audit.js"
import type { DatabaseError, VaultError } from "./BrokerError.js"
import * as ConnectSessions from "./ConnectSessions.js"
import * as Connections from "./Connections.js"
import * as IdleRefresh from "./IdleRefresh.js"
import type { KeyWrap } from "./KeyWrap.js"
import * as SessionKeys from "./SessionKeys.js"
import * as Tenants from "./Tenants.js"
import * as Vault from "./Vault.js"
import * as Webhooks from "./Webhooks.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Connections.Options {
  readonly sessions?: ConnectSessions.Options
  /** The sweep that refreshes idle sign-ins (default: after 7 days, looking every 10 minutes). */
  readonly idleRefresh?: IdleRefresh.Options
  /** The tenants' webhooks: their deliverer's timing, retries and limits. */
  readonly webhooks?: Webhooks.Options
  /**
   * Run the background loops in this process: the connect sessions' polls, the idle refresh sweep and the webhook
   * deliverer. Default true (admin commands turn them off; tests drive them by hand).
   */
  readonly polling?: boolean
  readonly sessionKeys?: SessionKeys.Options
}

/**
 * Vault, audit trail and tenants: what the admin commands need.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAdmin: Layer.Layer<
  Vault.Vault | Audit.Audit | Tenants.Tenants,
  VaultError | DatabaseError,
  SqlClient.SqlClient | KeyWrap | SecureRandom.SecureRandom
> = Layer.effectDiscard(Effect.flatMap(Vault.Vault, (vault) => vault.check)).pipe(
  Layer.provideMerge(Tenants.layer),
  Layer.provideMerge(Audit.layer),
  Layer.provideMerge(Vault.layer)
)

/**
 * Every service of the broker.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<
  | Vault.Vault
  | Audit.Audit
  | Tenants.Tenants
  | Connections.Connections
  | ConnectSessions.ConnectSessions
  | IdleRefresh.IdleRefresh
  | Webhooks.Webhooks
  | SessionKeys.SessionKeys,
  VaultError | DatabaseError,
  SqlClient.SqlClient | KeyWrap | SecureRandom.SecureRandom | Provider.Provider | HttpClient.HttpClient
> => {
  const background = options.polling === false
    ? Layer.merge(ConnectSessions.layerWithoutPolling(options.sessions), IdleRefresh.layerWithoutLoop(options.idleRefresh))
    : Layer.merge(ConnectSessions.layer(options.sessions), IdleRefresh.layer(options.idleRefresh))
  const webhooks = options.polling === false ? Webhooks.layerWithoutDelivery(options.webhooks) : Webhooks.layer(options.webhooks)
  return Layer.merge(background, SessionKeys.layer(options.sessionKeys)).pipe(
    Layer.provideMerge(Connections.layer(options)),
    Layer.provideMerge(webhooks),
    Layer.provide(IdTokenVerifier.layer()),
    Layer.provideMerge(layerAdmin)
  )
}
