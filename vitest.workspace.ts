/**
 * The test projects, one per package. `vitest.config.ts` passes this list to
 * `test.projects` (vitest 3.2 deprecates reading this file on its own).
 *
 * Tests import each package's `src/` through the `@subauth/source` export
 * condition, so no build is needed before `npm test`.
 */
import { defaultServerConditions } from "vite"
import { defineProject, type TestProjectConfiguration } from "vitest/config"

const conditions = ["@subauth/source", ...defaultServerConditions]

const project = (name: string, options: { readonly testTimeout?: number } = {}): TestProjectConfiguration =>
  defineProject({
    root: `./packages/${name}`,
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      environment: "node",
      testTimeout: options.testTimeout ?? 30_000,
      hookTimeout: 30_000
    }
  })

/** Tests of the repository as a whole: the READMEs against the manifests, and the packed packages in a new project. */
const repository: TestProjectConfiguration = defineProject({
  root: "./test",
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: "repository",
    include: ["*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})

export default [project("core"), project("node"), project("testing"), project("cli"), project("ai"), project("server"), project("broker", { testTimeout: 60_000 }), repository]
