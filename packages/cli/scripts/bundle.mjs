// Bundles the compiled CLI (dist/bin.js) into one CommonJS file, dist/subauth.cjs, which bin/subauth.js
// runs through V8's code cache. Commands stay lazy inside it: esbuild wraps what `import()` loads so that
// it is evaluated only when a command needs it.
import { build } from "esbuild"
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
  // Native and ESM-only packages, and optional native helpers of `ws`, are loaded from node_modules.
  external: ["@napi-rs/keyring", "open", "bufferutil", "utf-8-validate"],
  logLevel: "warning"
})
