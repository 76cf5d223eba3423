/**
 * @since 0.1.0
 */
export * as NodeTokenManager from "./NodeTokenManager.js"

/**
 * @since 0.1.0
 */
export * as NodeBrowser from "./NodeBrowser.js"

/**
 * @since 0.1.0
 */
export * as NodeCallbackServer from "./NodeCallbackServer.js"

/**
 * @since 0.1.0
 */
export * as NodeTokenStore from "./NodeTokenStore.js"
