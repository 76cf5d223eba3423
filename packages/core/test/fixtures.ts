import { readFileSync } from "node:fs"

/** Reads a request captured from the real Codex CLI (`fixtures/codex-cli/` at the repo root). */
export const codexFixture = <A = any>(name: string): A =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/codex-cli/${name}`, import.meta.url), "utf8")) as A
