/**
 * @since 0.1.0
 */
export * as SubscriptionLanguageModel from "./SubscriptionLanguageModel.js"
