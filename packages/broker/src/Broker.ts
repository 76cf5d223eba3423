/**
 * The broker's services composed: vault, audit trail, tenants, connections
 * and connect sessions (with their poll loop), over a database, a master key,
 * an issuer and an HTTP client. Building it checks first that the configured
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
import type { KeyWrap } from "./KeyWrap.js"
import * as SessionKeys from "./SessionKeys.js"
import * as Tenants from "./Tenants.js"
import * as Vault from "./Vault.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Connections.Options {
  readonly sessions?: ConnectSessions.Options
  /** Run the connect sessions' poll loop in this process. Default true (admin commands turn it off). */
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
  Vault.Vault | Audit.Audit | Tenants.Tenants | Connections.Connections | ConnectSessions.ConnectSessions | SessionKeys.SessionKeys,
  VaultError | DatabaseError,
  SqlClient.SqlClient | KeyWrap | SecureRandom.SecureRandom | Provider.Provider | HttpClient.HttpClient
> => {
  const sessions = options.polling === false
    ? ConnectSessions.layerWithoutPolling(options.sessions)
    : ConnectSessions.layer(options.sessions)
  return Layer.merge(sessions, SessionKeys.layer(options.sessionKeys)).pipe(
    Layer.provideMerge(Connections.layer(options)),
    Layer.provide(IdTokenVerifier.layer()),
    Layer.provideMerge(layerAdmin)
  )
}
