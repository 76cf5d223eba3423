/**
 * The root README and the broker's: their examples live in test/examples/,
 * where `npm run check` type-checks them; the root README's program runs in
 * same-program.test.ts (through its three layers), the webhook check in Webhooks.test.ts.
 */
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"

const root = new URL("../../../", import.meta.url)
DocsExamplesSuite.run(
  [
    { readme: new URL("README.md", root), name: "readme", run: { 1: "same-program.test.ts" } },
    { readme: new URL("packages/broker/README.md", root), name: "broker", run: { 3: "Webhooks.test.ts" } }
  ],
  new URL("examples/", import.meta.url)
)
