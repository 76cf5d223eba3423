/**
 * @since 0.1.0
 */
export * as OpenAIProxy from "./OpenAIProxy.js"

/**
 * @since 0.1.0
 */
export * as ChatCompletions from "./ChatCompletions.js"

/**
 * @since 0.1.0
 */
export * as ResponsesApi from "./ResponsesApi.js"

/**
 * @since 0.1.0
 */
export * as ServeKey from "./ServeKey.js"

/**
 * @since 0.1.0
 */
export * as ProxyError from "./ProxyError.js"

/**
 * @since 0.1.0
 */
export * as ItemStore from "./ItemStore.js"
