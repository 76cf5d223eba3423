/**
 * Opens a URL in the person's browser. Opening can fail (headless machines,
 * SSH sessions), so flows always show the URL as well.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category tags
 */
export class Browser extends Context.Tag("@subauth/core/Browser")<Browser, {
  /** Whether a browser was started. Never fails: a login goes on without one. */
  readonly open: (url: string) => Effect.Effect<boolean>
}>() {}

/**
 * Never opens anything (`--no-browser`, servers, CI).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoop: Layer.Layer<Browser> = Layer.succeed(Browser, { open: () => Effect.succeed(false) })

/**
 * Hands the URL to `visit`, e.g. a test that plays the browser.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (visit: (url: string) => Effect.Effect<void>): Layer.Layer<Browser> =>
  Layer.succeed(Browser, { open: (url) => Effect.as(Effect.forkDaemon(visit(url)), true) })
