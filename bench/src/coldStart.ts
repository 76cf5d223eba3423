/**
 * `subauth status` cold start, next to `node -e 0` measured in the same run
 * (interleaved, median of many starts). The binary is the built one
 * (bin/subauth.js → dist/subauth.cjs); its V8 code cache is made by a first
 * start, which is reported separately. A third line is the floor of any
 * Effect program: `effect` alone, bundled the same way, printing one line.
 */
import { build } from "esbuild"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { median, write } from "./results.js"

const RUNS = 21
const bin = fileURLToPath(new URL("../../packages/cli/bin/subauth.js", import.meta.url))

const time = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, [...args], { env, stdio: "ignore" })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status === null) throw new Error(`${args.join(" ")} did not exit`)
  return ms
}

export const run = async () => {
  const home = mkdtempSync(join(tmpdir(), "subauth-cold-"))
  try {
    const env = { PATH: process.env.PATH, HOME: home, XDG_CACHE_HOME: join(home, "cache"), SUBAUTH_HOME: join(home, "subauth") }
    const status = [bin, "status", "--store", "file"]
    const firstStart = time(status, env) // compiles, and writes the code cache
    const floorSource = join(home, "floor.mjs")
    writeFileSync(floorSource, `import { Console, Effect } from "effect"\nEffect.runFork(Console.log("not signed in"))\n`)
    const floor = join(home, "floor.cjs")
    await build({ entryPoints: [floorSource], outfile: floor, bundle: true, platform: "node", format: "cjs", minify: true, nodePaths: [fileURLToPath(new URL("../../node_modules", import.meta.url))], logLevel: "error" })
    const node: Array<number> = []
    const cli: Array<number> = []
    const effect: Array<number> = []
    for (let i = 0; i < RUNS; i++) {
      node.push(time(["-e", "0"], env))
      cli.push(time(status, env))
      effect.push(time([floor], env))
    }
    const baseline = median(node)
    const measured = median(cli)
    const result = {
      runs: RUNS,
      nodeMs: Number(baseline.toFixed(1)),
      statusMs: Number(measured.toFixed(1)),
      statusFirstStartMs: Number(firstStart.toFixed(1)),
      effectAloneMs: Number(median(effect).toFixed(1)),
      ratio: Number((measured / baseline).toFixed(2)),
      effectAloneRatio: Number((median(effect) / baseline).toFixed(2)),
      target: "statusMs <= 1.5 × nodeMs",
      meetsTarget: measured <= 1.5 * baseline
    }
    write("cold-start", result)
    return result
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}
