#!/usr/bin/env node
// The subauth binary. It runs one of two bundles through V8's code cache, kept in ~/.cache/subauth, so a start
// does not pay to compile them again: dist/subauth-fast.cjs for `status` and `token`, which scripts call in loops
// (0.45 MB: no @effect/cli, no login), and dist/subauth.cjs (1.7 MB) for everything else, including the command
// lines of those two that the fast bundle does not take (src/fastBin.ts). Without the bundles (a development
// build), it runs the compiled modules directly.
// CommonJS (bin/package.json): Node starts a CommonJS entry point 2 ms sooner than an ES module.
"use strict"
const { createHash } = require("node:crypto")
const { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require("node:fs")
const { createRequire } = require("node:module")
const { homedir } = require("node:os")
const { dirname, join } = require("node:path")
const vm = require("node:vm")

const dist = join(__dirname, "..", "dist")
const bundles = { full: join(dist, "subauth.cjs"), fast: join(dist, "subauth-fast.cjs") }

const statOf = (path) => {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}
const full = statOf(bundles.full)
const fast = statOf(bundles.fast)

if (full === undefined) {
  import("../dist/bin.js")
} else {
  // V8 rejects a cache made by another V8 or for another source; the key (of this build) avoids even reading one.
  const build = createHash("sha256")
    .update(`${process.version} ${dist} ${full.size} ${full.mtimeMs} ${fast?.size} ${fast?.mtimeMs}`)
    .digest("base64url")
    .slice(0, 16)
  const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "subauth")
  const current = new Set(["full", "fast"].map((name) => `subauth-${build}-${name}.v8cache`))

  /** Runs a bundle through the code cache; its exports. */
  const run = (name) => {
    const bundle = bundles[name]
    const source = readFileSync(bundle, "utf8")
    const cacheFile = join(cacheDir, `subauth-${build}-${name}.v8cache`)
    let cachedData
    try {
      cachedData = readFileSync(cacheFile)
    } catch {
      // First run (or no cache directory): compile, and save the cache when the program ends.
    }
    // The bundle's own `import()` calls arrive as `__subauthImport` (see scripts/bundle.mjs).
    const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __subauthImport) {${source}\n})`, {
      filename: bundle,
      cachedData
    })
    if (cachedData === undefined || script.cachedDataRejected) {
      process.once("exit", () => {
        try {
          mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
          const temporary = `${cacheFile}.${process.pid}`
          writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
          renameSync(temporary, cacheFile)
          // The caches of use are this build's. Those of earlier builds (and temporaries a crash left) go.
          for (const file of readdirSync(cacheDir)) {
            if (/^subauth-[\w-]+\.v8cache(\.\d+)?$/.test(file) && !current.has(file)) {
              try {
                unlinkSync(join(cacheDir, file))
              } catch {
                // Gone already, or another process's: it is tried again next time.
              }
            }
          }
        } catch {
          // A read-only home only costs speed.
        }
      })
    }
    const module = { exports: {} }
    script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle), (specifier) => import(specifier))
    return module.exports
  }

  const command = process.argv[2]
  const tookIt = fast !== undefined && (command === "status" || command === "token") && run("fast").run(process.argv)
  if (!tookIt) run("full")
}
