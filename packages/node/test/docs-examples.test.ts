/**
 * The READMEs of core, node and testing: their examples live in test/examples/ (the root README's, which use
 * the broker too, are checked by the broker package).
 */
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"

const root = new URL("../../../", import.meta.url)
DocsExamplesSuite.run(
  [
    { readme: new URL("packages/core/README.md", root), name: "core" },
    { readme: new URL("packages/node/README.md", root), name: "node" },
    { readme: new URL("packages/testing/README.md", root), name: "testing" }
  ],
  new URL("examples/", import.meta.url)
)
