/**
 * The install lines of the READMEs against the manifests: each `npm i` line names the peer dependencies of the
 * subauth packages it installs with the ranges those declare (npm would otherwise pick the newest `effect`, 4.x,
 * and fail to resolve), and the subauth and Effect packages that the README's examples import.
 */
import { assert, describe, it } from "@effect/vitest"
import * as DocsExamplesSuite from "@subauth/testing/DocsExamplesSuite"
import { installLines, manifests, readme, readmes } from "./readmes.js"

/** Every peer range, which the packages must agree on (so that one line installs any set of them). */
const peerRanges = new Map<string, string>()
const disagreements: Array<string> = []
for (const { manifest } of manifests.values()) {
  for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
    const known = peerRanges.get(name)
    if (known !== undefined && known !== range) disagreements.push(`${manifest.name} wants ${name}@${range}, another package ${known}`)
    peerRanges.set(name, range)
  }
}

const imported = (markdown: string) =>
  new Set(
    DocsExamplesSuite.tsBlocks(markdown).flatMap((code) =>
      [...code.matchAll(/from "((?:@[^/"]+\/)?[^/"]+)/g)].map((i) => i[1]!)
    )
  )

describe("install lines", () => {
  it("the packages declare the same range for a peer they share", () => {
    assert.isAbove(peerRanges.size, 0)
    assert.deepStrictEqual(disagreements, [])
  })

  for (const { own, path } of readmes) {
    it(`${path}: its npm i lines install what the package and its examples need, at the peer ranges`, () => {
      const markdown = readme(path)
      const lines = installLines(markdown)
      assert.isAbove(lines.length, 0, "no `npm i` line")
      const listed = new Map(lines.flat())
      if (own !== undefined) assert.isTrue(listed.has(own), `the line does not install ${own}`)
      for (const [name, version] of listed) {
        if (manifests.has(name)) {
          assert.isUndefined(version, `${name}: the subauth packages go without a version`)
        } else {
          assert.strictEqual(version, peerRanges.get(name), `${name}: not the range the packages declare`)
        }
      }
      // Each line on its own: the subauth packages it names, with every peer they need.
      for (const line of lines) {
        const names = new Set(line.map(([name]) => name))
        for (const name of names) {
          const manifest = manifests.get(name)?.manifest
          for (const peer of Object.keys(manifest?.peerDependencies ?? {})) {
            const optional = manifest?.peerDependenciesMeta?.[peer]?.optional === true
            if (!optional) assert.isTrue(names.has(peer), `${name} needs ${peer}, which its line leaves out`)
          }
        }
      }
      for (const name of imported(markdown)) {
        if (manifests.has(name) || peerRanges.has(name)) {
          assert.isTrue(listed.has(name), `the examples import ${name}, which no \`npm i\` line installs`)
        }
      }
    })
  }

  it("packages that need Node say which", () => {
    for (const [name, { manifest }] of manifests) {
      const node = manifest.engines?.node
      if (manifest.peerDependencies?.["@effect/platform-node"] !== undefined || name === "@subauth/cli") {
        assert.strictEqual(node, ">=20.19", `${name}: engines.node`)
      }
    }
  })
})
