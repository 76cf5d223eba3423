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

/**
 * @since 0.1.0
 */
export * as BackendError from "./BackendError.js"

/**
 * @since 0.1.0
 */
export * as Browser from "./Browser.js"

/**
 * @since 0.1.0
 */
export * as BrowserLogin from "./BrowserLogin.js"

/**
 * @since 0.1.0
 */
export * as CallbackServer from "./CallbackServer.js"

/**
 * @since 0.1.0
 */
export * as CodexWire from "./CodexWire.js"

/**
 * @since 0.1.0
 */
export * as Consent from "./Consent.js"

/**
 * @since 0.1.0
 */
export * as DeviceLogin from "./DeviceLogin.js"

/**
 * @since 0.1.0
 */
export * as IdTokenVerifier from "./IdTokenVerifier.js"

/**
 * @since 0.1.0
 */
export * as InjectedLogin from "./InjectedLogin.js"

/**
 * @since 0.1.0
 */
export * as Login from "./Login.js"

/**
 * @since 0.1.0
 */
export * as LoginError from "./LoginError.js"

/**
 * @since 0.1.0
 */
export * as LoginUI from "./LoginUI.js"

/**
 * @since 0.1.0
 */
export * as PasteLogin from "./PasteLogin.js"

/**
 * @since 0.1.0
 */
export * as SubscriptionLLM from "./SubscriptionLLM.js"

/**
 * @since 0.1.0
 */
export * as Limits from "./Limits.js"

/**
 * @since 0.1.0
 */
export * as Printable from "./Printable.js"

/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 */
export * as RateLimits from "./RateLimits.js"
