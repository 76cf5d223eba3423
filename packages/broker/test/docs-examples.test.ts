/**
 * The root README and the broker's: their examples live in test/examples/,
 * where `npm run check` type-checks them; the root README's program also runs
 * here, through the broker and through the fakes.
 */
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"

const root = new URL("../../../", import.meta.url)
DocsExamplesSuite.run(
  [
    { readme: new URL("README.md", root), name: "readme" },
    { readme: new URL("packages/broker/README.md", root), name: "broker" }
  ],
  new URL("examples/", import.meta.url)
)
