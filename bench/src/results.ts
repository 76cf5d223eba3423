import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"

export const resultsDir = new URL("../results/", import.meta.url)

/** Writes `bench/results/<name>.json` with the machine it ran on. */
export const write = (name: string, result: Record<string, unknown>): void => {
  mkdirSync(resultsDir, { recursive: true })
  const file = new URL(`${name}.json`, resultsDir)
  const record = {
    benchmark: name,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    ...result
  }
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`)
  console.log(`${name}: ${JSON.stringify(result, null, 2)}`)
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The nearest-rank `p`th percentile (0–100) of `xs`. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Three decimals, as the results files give milliseconds. */
export const round3 = (x: number): number => Number(x.toFixed(3))
