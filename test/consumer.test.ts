/**
 * subauth as someone else's dependency: every package packed (`npm pack`), the tarballs installed into new projects
 * outside the repository (in the system's temporary directory) with the peer versions the READMEs give, and used
 * there as an app would use them:
 *
 * - an app: the root README's program and the fixtures of `consumer-app/` compiled by the project's own
 *   TypeScript (`strict`, NodeNext; then bundler resolution), the program run against fakes started from the
 *   project (its configuration through the environment), every package `require()`d from CommonJS, the user's
 *   vitest tests on `@subauth/testing` (the testing README's test examples among them), and `npx subauth --help`;
 * - the CLI alone: it installs only what its bundle loads (no Effect, no other subauth package), and `--help` and
 *   the sandbox (`subauth demo`) work.
 *
 * Only the npm registry is reached, for the peers and the packages' dependencies (`--prefer-offline`: the cache
 * first). Install scripts are off: the only one is better-sqlite3's, which would download a prebuilt binary from
 * GitHub, and nothing here opens a SQLite database. Needs the packages built (`npm test` builds first). Skipped,
 * saying why, when the registry does not answer, except in CI (`CI=true`), where it fails instead.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"
import { execFile } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { installLines, manifests, readme, readmes, root } from "./readmes.js"

const repository = fileURLToPath(root)
const fixtures = fileURLToPath(new URL("consumer-app/", import.meta.url))

/** The environment of a user's shell: none of what `npm test` and vitest add for their own children. */
const env: Record<string, string | undefined> = Object.fromEntries(
  Object.entries(process.env).filter(([name]) =>
    !/^(npm_|vitest)/i.test(name) && !["TEST", "NODE_ENV", "NODE_OPTIONS", "INIT_CWD"].includes(name)
  )
)

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: Record<string, string> }) =>
  new Promise<Ran>((resolve) => {
    execFile(command, args, { cwd: options.cwd, env: { ...env, ...options.env }, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

/** Asserts a zero exit code, showing the output when it is not. */
const succeeded = (ran: Ran, what: string): Ran => {
  assert.strictEqual(ran.code, 0, `${what} exited ${ran.code}:\n${ran.stdout}\n${ran.stderr}`)
  return ran
}

const NPM_FLAGS = ["--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error"]

const registryProblem = await run("npm", ["ping"], { cwd: tmpdir() }).then((ran) =>
  ran.code === 0 ? undefined : `the npm registry does not answer (npm ping: ${ran.stderr.trim().split("\n").at(-1)})`
)

/** A new project in the temporary directory: an ES module package with nothing installed. */
const newProject = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `subauth-${name}-`))
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "0.0.0", private: true, type: "module" }, null, 2))
  return dir
}

const packs = { dir: "", tarballs: new Map<string, string>() }

const pack = async () => {
  for (const { dir } of manifests.values()) {
    const built = dir === "cli" ? "dist/subauth.cjs" : "dist/index.js"
    assert.isTrue(existsSync(join(repository, "packages", dir, built)), `packages/${dir}/${built} is missing: run npm run build first`)
  }
  packs.dir = mkdtempSync(join(tmpdir(), "subauth-packs-"))
  const ran = succeeded(await run("npm", ["pack", "--workspaces", "--pack-destination", packs.dir, "--json"], { cwd: repository }), "npm pack")
  for (const packed of JSON.parse(ran.stdout) as Array<{ name: string; filename: string }>) {
    packs.tarballs.set(packed.name, join(packs.dir, packed.filename))
  }
  assert.deepStrictEqual([...packs.tarballs.keys()].sort(), [...manifests.keys()].sort())
}

const tarball = (name: string) => {
  const file = packs.tarballs.get(name)
  assert.isDefined(file, name)
  return file!
}

const rootDevDependency = (name: string) => {
  const version = (JSON.parse(readFileSync(join(repository, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
    .devDependencies[name]
  assert.isDefined(version, name)
  return `${name}@${version}`
}

const blocks = (path: string) => DocsExamplesSuite.tsBlocks(readme(path))

const cleanup: Array<string> = []
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true })
})

if (registryProblem !== undefined && process.env.CI !== "true") {
  describe.skip(`subauth as someone else's dependency: skipped, ${registryProblem}`, () => {
    it("installs the packed packages in a new project", () => {})
  })
} else {
  describe("subauth as someone else's dependency", () => {
    beforeAll(async () => {
      await pack()
      cleanup.push(packs.dir)
    }, 120_000)

    describe("an app that installs every package", () => {
      let app = ""

      beforeAll(async () => {
        app = newProject("consumer-app")
        cleanup.push(app)
        // What the READMEs say to install, the subauth packages as the tarballs; every package, the CLI too.
        const wanted = new Map<string, string>()
        for (const { path } of readmes) {
          for (const [name, version] of installLines(readme(path)).flat()) {
            wanted.set(name, manifests.has(name) ? tarball(name) : `${name}@${version}`)
          }
        }
        for (const name of manifests.keys()) wanted.set(name, tarball(name))
        // The project's own tools. @types/ws: @effect/platform-node's declarations import `ws`, whose types are
        // not bundled; a project that checks declarations (skipLibCheck: false, as this one) needs them.
        const tools = [rootDevDependency("typescript"), rootDevDependency("@types/node"), "@types/ws@^8.5.0"]
        succeeded(await run("npm", ["install", ...NPM_FLAGS, ...wanted.values(), ...tools], { cwd: app }), "npm install")

        cpSync(fixtures, app, { recursive: true })
        const main = blocks("README.md").filter((code) => code.includes("export const main"))
        assert.strictEqual(main.length, 1, "one block of the root README defines main")
        writeFileSync(join(app, "src", "readme.ts"), main[0]!)
        // The testing README's blocks: the test files among them run under vitest, the others are compiled.
        blocks("packages/testing/README.md").forEach((code, i) => {
          const isTest = existsSync(join(repository, "packages", "node", "test", "examples", `testing-${i + 1}.test.ts`))
          const file = isTest ? join(app, "test", `testing-readme-${i + 1}.test.ts`) : join(app, "src", `testing-readme-${i + 1}.ts`)
          mkdirSync(join(file, ".."), { recursive: true })
          writeFileSync(file, code)
        })
      }, 300_000)

      const node = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
        run(process.execPath, args, { cwd: app, env: extra })

      it("resolves the peers at the READMEs' versions: effect 3, not the registry's newest", () => {
        const version = (name: string) =>
          (JSON.parse(readFileSync(join(app, "node_modules", name, "package.json"), "utf8")) as { version: string }).version
        assert.match(version("effect"), /^3\./)
        assert.match(version("@effect/platform-node"), /^0\.108\./)
      })

      it("tsc --strict, NodeNext: compiles the README's program, its runner and the user's tests", async () => {
        succeeded(await node(["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"]), "tsc (NodeNext)")
      }, 120_000)

      it("tsc --strict, bundler resolution: compiles them too", async () => {
        succeeded(await node(["node_modules/typescript/bin/tsc", "-p", "tsconfig.bundler.json"]), "tsc (bundler)")
      }, 120_000)

      it("the README's program runs against the fakes, told where they are by SUBAUTH_ISSUER and SUBAUTH_CODEX_URL", async () => {
        const ran = succeeded(await node(["dist/src/run-readme.js"]), "dist/src/run-readme.js")
        const result = JSON.parse(ran.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>
        assert.deepStrictEqual(result, {
          code: 0,
          answer: "PKCE binds the code to the client that asked for it.",
          // The stored token was refused once: refreshed at the issuer it was told, then the backend asked again.
          issuer: "token",
          responses: 2
        })
      }, 60_000)

      it("a CommonJS program require()s every package", async () => {
        const ran = succeeded(await node(["src/require.cjs"]), "src/require.cjs")
        assert.strictEqual(ran.stdout.trim(), Array(6).fill("function").join(" "))
      }, 60_000)

      it("vitest runs the user's tests on @subauth/testing, the testing README's among them", async () => {
        const output = join(app, "vitest-results.json")
        succeeded(await node(["node_modules/vitest/vitest.mjs", "run", "--reporter=json", `--outputFile=${output}`]), "vitest")
        const results = JSON.parse(readFileSync(output, "utf8")) as {
          numFailedTests: number
          numPassedTests: number
          testResults: Array<{ name: string; status: string }>
        }
        assert.strictEqual(results.numFailedTests, 0)
        const files = results.testResults.map((r) => `${r.name.slice(app.length + 1)} ${r.status}`).sort()
        const readmeTests = readdirSync(join(app, "test")).filter((f) => f.startsWith("testing-readme-"))
        assert.deepStrictEqual(files, ["test/harness.test.ts", ...readmeTests.map((f) => `test/${f}`)].sort().map((f) => `${f} passed`))
        assert.isAbove(results.numPassedTests, readmeTests.length)
      }, 120_000)

      it("npx subauth --help", async () => {
        const ran = succeeded(
          await run("npx", ["--no", "--", "subauth", "--help"], { cwd: app, env: { XDG_CACHE_HOME: join(app, ".cache") } }),
          "npx subauth --help"
        )
        assert.include(ran.stdout, "USAGE")
        assert.include(ran.stdout, "subauth login")
      }, 60_000)
    })

    describe("the CLI installed on its own", () => {
      let cli = ""

      beforeAll(async () => {
        cli = newProject("consumer-cli")
        cleanup.push(cli)
        succeeded(await run("npm", ["install", ...NPM_FLAGS, tarball("@subauth/cli")], { cwd: cli }), "npm install @subauth/cli")
      }, 300_000)

      const subauth = (...args: ReadonlyArray<string>) =>
        run("npx", ["--no", "--", "subauth", ...args], {
          cwd: cli,
          env: { XDG_CACHE_HOME: join(cli, ".cache"), SUBAUTH_HOME: join(cli, ".subauth"), CI: "true" }
        })

      it("installs only what its bundle loads at run time", () => {
        const installed = readdirSync(join(cli, "node_modules"))
        assert.deepStrictEqual(readdirSync(join(cli, "node_modules", "@subauth")), ["cli"])
        assert.notInclude(installed, "effect")
        assert.notInclude(installed, "@effect")
        for (const external of ["@napi-rs", "open", "better-sqlite3"]) assert.include(installed, external)
      })

      it("--help", async () => {
        const ran = succeeded(await subauth("--help"), "subauth --help")
        assert.include(ran.stdout, "USAGE")
      }, 60_000)

      it("the sandbox: subauth demo", async () => {
        const ran = succeeded(await subauth("demo"), "subauth demo")
        assert.include(ran.stdout + ran.stderr, "the sandbox is gone")
      }, 120_000)
    })
  })
}
