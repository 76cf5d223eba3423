/**
 * Runs every benchmark and writes `bench/results/*.json`. `npm run bench`.
 * Pass names to run some: `npm run bench -- stampede`.
 */
import * as broker from "./broker.js"
import * as coldStart from "./coldStart.js"
import * as gateway from "./gateway.js"
import * as multiProcessRefresh from "./multiProcessRefresh.js"
import * as proxy from "./proxy.js"
import * as sseDecoding from "./sseDecoding.js"
import * as stampede from "./stampede.js"
import * as timeToFirstToken from "./timeToFirstToken.js"
import * as tokenHotPath from "./tokenHotPath.js"
import * as tokenStoreLatency from "./tokenStoreLatency.js"

const all: Record<string, { run: () => Promise<{ readonly meetsTarget: boolean }> }> = {
  "token-hot-path": tokenHotPath,
  stampede,
  "sse-decoding": sseDecoding,
  "time-to-first-token": timeToFirstToken,
  "multi-process-refresh": multiProcessRefresh,
  "token-store-latency": tokenStoreLatency,
  "cold-start": coldStart,
  proxy,
  broker,
  gateway
}

const chosen = process.argv.slice(2)
const unknown = chosen.filter((name) => !(name in all))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(all).join(", ")}`)
  process.exit(2)
}
let failed = false
for (const [name, bench] of Object.entries(all)) {
  if (chosen.length > 0 && !chosen.includes(name)) continue
  const result = await bench.run()
  if (!result.meetsTarget) {
    failed = true
    console.error(`${name}: target not met`)
  }
}
process.exit(failed ? 1 : 0)
