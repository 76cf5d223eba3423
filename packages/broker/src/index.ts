/**
 * @since 0.1.0
 */
export * as BrokerDatabase from "./BrokerDatabase.js"

/**
 * @since 0.1.0
 */
export * as BrokerError from "./BrokerError.js"

/**
 * @since 0.1.0
 */
export * as KeyWrap from "./KeyWrap.js"

/**
 * @since 0.1.0
 */
export * as MasterKey from "./MasterKey.js"

/**
 * @since 0.1.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"

/**
 * @since 0.1.0
 */
export * as Vault from "./Vault.js"

/**
 * @since 0.1.0
 */
export * as Audit from "./Audit.js"

/**
 * @since 0.1.0
 */
export * as Broker from "./Broker.js"

/**
 * @since 0.1.0
 */
export * as BrokerApi from "./BrokerApi.js"

/**
 * @since 0.1.0
 */
export * as BrokerServer from "./BrokerServer.js"

/**
 * @since 0.1.0
 */
export * as ConnectSessions from "./ConnectSessions.js"

/**
 * @since 0.1.0
 */
export * as ConnectPage from "./ConnectPage.js"

/**
 * @since 0.1.0
 */
export * as ConnectHandoff from "./ConnectHandoff.js"

/**
 * @since 0.1.0
 */
export * as Connections from "./Connections.js"

/**
 * @since 0.1.0
 */
export * as IdleRefresh from "./IdleRefresh.js"

/**
 * @since 0.1.0
 */
export * as Tenants from "./Tenants.js"

/**
 * @since 0.1.0
 */
export * as Webhooks from "./Webhooks.js"

/**
 * @since 0.1.0
 */
export * as BrokerClient from "./BrokerClient.js"

/**
 * @since 0.1.0
 */
export * as BrokerTokenManager from "./BrokerTokenManager.js"
