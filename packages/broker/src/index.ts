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
