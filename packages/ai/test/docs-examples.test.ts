import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"

DocsExamplesSuite.run([{ readme: new URL("../README.md", import.meta.url), name: "readme" }], new URL("examples/", import.meta.url))
