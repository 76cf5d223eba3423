import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { version } from "../src/internal/version.js"
import * as TokenEndpoint from "../src/TokenEndpoint.js"

describe("version", () => {
  it("the user agent names the package version", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    assert.strictEqual(version, pkg.version)
    assert.strictEqual(TokenEndpoint.USER_AGENT, `subauth/${pkg.version}`)
  })
})
