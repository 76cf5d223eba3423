import { assert, describe, it } from "@effect/vitest"
import * as DocsExamplesSuite from "../src/DocsExamplesSuite.js"

const fence = "```"

describe("DocsExamplesSuite.blocks", () => {
  it("takes ts blocks whose fences start a line, with why a block is not run", () => {
    const markdown = [
      "Prose that mentions ` " + fence + "ts not run: why ` inline.",
      "",
      fence + "ts",
      "export const a = 1",
      "const s = `" + fence + "`",
      fence,
      "",
      fence + "sh",
      "npm i x",
      fence,
      "",
      fence + "ts not run: it serves on port 8787",
      "export const b = 2",
      fence,
      ""
    ].join("\n")
    assert.deepStrictEqual(DocsExamplesSuite.blocks(markdown), [
      { code: "export const a = 1\nconst s = `" + fence + "`\n", notRun: undefined },
      { code: "export const b = 2\n", notRun: "it serves on port 8787" }
    ])
    assert.deepStrictEqual(DocsExamplesSuite.tsBlocks(markdown), ["export const a = 1\nconst s = `" + fence + "`\n", "export const b = 2\n"])
  })

  it("refuses any other info string on a ts block", () => {
    assert.throws(() => DocsExamplesSuite.blocks(`${fence}ts title="x"\nconst a = 1\n${fence}\n`), /not run: <why>/)
  })

  it("takes typescript blocks too, and leaves out other languages, tsx among them", () => {
    assert.deepStrictEqual(DocsExamplesSuite.blocks(`${fence}tsx\nconst a = <b />\n${fence}\n${fence}typescript\nconst c = 1\n${fence}\n`), [
      { code: "const c = 1\n", notRun: undefined }
    ])
  })
})
