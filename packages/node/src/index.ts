/**
 * @since 0.1.0
 */
export * as NodeTokenManager from "./NodeTokenManager.js"
