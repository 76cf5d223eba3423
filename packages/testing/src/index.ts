/**
 * `TokenStoreSuite` is not re-exported here: it imports vitest, which fails
 * outside a test run. Import it as `@subauth/testing/TokenStoreSuite`.
 *
 * @since 0.1.0
 */
export * as FakeHttp from "./FakeHttp.js"

/**
 * @since 0.1.0
 */
export * as FakeOAuthServer from "./FakeOAuthServer.js"

/**
 * @since 0.1.0
 */
export * as FakeCodexBackend from "./FakeCodexBackend.js"

/**
 * @since 0.1.0
 */
export * as LargeUpload from "./LargeUpload.js"
