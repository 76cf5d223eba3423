// Bundles the compiled CLI (dist/bin.js) into one CommonJS file, dist/subauth.cjs, which bin/subauth.js
// runs through V8's code cache. Commands stay lazy inside it: esbuild wraps what `import()` loads so that
// it is evaluated only when a command needs it.
import { build } from "esbuild"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

await build({
  absWorkingDir: root,
  entryPoints: ["dist/bin.js"],
  outfile: "dist/subauth.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  // Native and ESM-only packages, and optional native helpers of `ws` and `pg`, are loaded from node_modules.
  external: ["@napi-rs/keyring", "open", "bufferutil", "utf-8-validate", "better-sqlite3", "pg-native"],
  logLevel: "warning"
})

// Code compiled by `vm.Script` may only `import()` through a loader given at compile time, and on Node 20
// the one ready-made loader prints an ExperimentalWarning. So the bundle's `import()` calls (of the external
// ESM-only packages) go through `__subauthImport`, a parameter that bin/subauth.js fills with its own `import`.
const outfile = new URL("../dist/subauth.cjs", import.meta.url)
const bundled = readFileSync(outfile, "utf8")
let rewritten = 0
const output = bundled.replace(/(?<![\w$.])import\((?=["'])/g, () => {
  rewritten++
  return "__subauthImport("
})
if (rewritten === 0 || /(?<![\w$.])import\(/.test(output)) {
  throw new Error(`bundle.mjs: expected only import("literal") calls in the bundle, rewrote ${rewritten}`)
}
writeFileSync(outfile, output)
