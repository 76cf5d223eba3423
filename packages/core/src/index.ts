/**
 * @since 0.1.0
 */
export * as AuthError from "./AuthError.js"

/**
 * @since 0.1.0
 */
export * as Claims from "./Claims.js"

/**
 * @since 0.1.0
 */
export * as Pkce from "./Pkce.js"

/**
 * @since 0.1.0
 */
export * as Provider from "./Provider.js"

/**
 * @since 0.1.0
 */
export * as SecureRandom from "./SecureRandom.js"

/**
 * @since 0.1.0
 */
export * as TokenEndpoint from "./TokenEndpoint.js"

/**
 * @since 0.1.0
 */
export * as TokenManager from "./TokenManager.js"

/**
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.js"

/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"
