/**
 * Opens URLs with the `open` package (xdg-open, open, start). On a machine
 * without a desktop it reports that nothing opened; login flows show the URL
 * regardless.
 *
 * @since 0.1.0
 */
import * as Browser from "@subauth/core/Browser"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Browser.Browser> = Layer.succeed(Browser.Browser, {
  open: (url) =>
    // Loaded when needed: most commands never open a browser.
    Effect.tryPromise(() => import("open").then(({ default: open }) => open(url))).pipe(
      // xdg-open without a desktop exits non-zero quickly: wait a moment for that.
      Effect.flatMap((child) =>
        Effect.async<boolean>((resume) => {
          const timer = setTimeout(() => resume(Effect.succeed(true)), 1000)
          child.once("exit", (code) => {
            clearTimeout(timer)
            resume(Effect.succeed(code === 0))
          })
          child.once("error", () => {
            clearTimeout(timer)
            resume(Effect.succeed(false))
          })
        })
      ),
      Effect.orElseSucceed(() => false)
    )
})
