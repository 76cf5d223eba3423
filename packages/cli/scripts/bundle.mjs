// Bundles the compiled CLI into two CommonJS files that bin/subauth.js runs through V8's code cache:
// dist/subauth.cjs (dist/bin.js: every command) and dist/subauth-fast.cjs (dist/fastBin.js: `status` and
// `token`, which scripts call in loops). Each is self-contained; the launcher runs one of them, or the fast one
// and then, when the fast one does not take the command line, the full one (src/fastBin.ts says when).
// Commands stay lazy inside a bundle: esbuild wraps what `import()` loads so that it is evaluated only when
// a command needs it.
import { build } from "esbuild"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const bundles = { subauth: "dist/bin.js", "subauth-fast": "dist/fastBin.js" }

await build({
  absWorkingDir: root,
  entryPoints: bundles,
  outdir: "dist",
  outExtension: { ".js": ".cjs" },
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
for (const name of Object.keys(bundles)) {
  const outfile = new URL(`../dist/${name}.cjs`, import.meta.url)
  const bundled = readFileSync(outfile, "utf8")
  let rewritten = 0
  const output = bundled.replace(/(?<![\w$.])import\((?=["'])/g, () => {
    rewritten++
    return "__subauthImport("
  })
  if (rewritten === 0 || /(?<![\w$.])import\(/.test(output)) {
    throw new Error(`bundle.mjs: expected only import("literal") calls in ${name}.cjs, rewrote ${rewritten}`)
  }
  writeFileSync(outfile, output)
}
