#!/usr/bin/env node
// The subauth binary. It runs the bundle (dist/subauth.cjs) through V8's code cache, kept in
// ~/.cache/subauth, so a start does not pay to compile 1.7 MB of JavaScript again; without the bundle
// (a development build), it runs the compiled modules directly.
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import vm from "node:vm"

const bundle = fileURLToPath(new URL("../dist/subauth.cjs", import.meta.url))

let info
try {
  info = statSync(bundle)
} catch {
  info = undefined
}

if (info === undefined) {
  await import("../dist/bin.js")
} else {
  const source = readFileSync(bundle, "utf8")
  // V8 rejects a cache made by another V8 or for another source; the key avoids even reading one.
  const key = createHash("sha256").update(`${process.version} ${bundle} ${info.size} ${info.mtimeMs}`).digest("base64url").slice(0, 16)
  const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "subauth")
  const cacheFile = join(cacheDir, `subauth-${key}.v8cache`)
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
        // One cache is of use: the one for this build. Those of earlier builds (and temporaries a crash left) go.
        for (const name of readdirSync(cacheDir)) {
          if (/^subauth-[\w-]+\.v8cache(\.\d+)?$/.test(name) && name !== `subauth-${key}.v8cache`) {
            try {
              unlinkSync(join(cacheDir, name))
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
}
