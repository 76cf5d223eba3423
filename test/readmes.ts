/**
 * The READMEs and manifests of the packages, and the `npm i` lines of the READMEs, for the tests of the
 * repository as a whole.
 */
import { readdirSync, readFileSync } from "node:fs"

export const root = new URL("../", import.meta.url)

export interface Manifest {
  readonly name: string
  readonly engines?: { readonly node?: string }
  readonly devDependencies?: Readonly<Record<string, string>>
  readonly peerDependencies?: Readonly<Record<string, string>>
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>
}

/** Each package by name: its folder under packages/ and its manifest. */
export const manifests: ReadonlyMap<string, { readonly dir: string; readonly manifest: Manifest }> = new Map(
  readdirSync(new URL("packages/", root)).map((dir) => {
    const manifest = JSON.parse(readFileSync(new URL(`packages/${dir}/package.json`, root), "utf8")) as Manifest
    return [manifest.name, { dir, manifest }] as const
  })
)

/** The root README and each package's, with the package it is about. */
export const readmes: ReadonlyArray<{ readonly path: string; readonly own: string | undefined }> = [
  { path: "README.md", own: undefined },
  ...[...manifests].map(([name, { dir }]) => ({ path: `packages/${dir}/README.md`, own: name }))
]

export const readme = (path: string): string => readFileSync(new URL(path, root), "utf8")

/** The packages named by each `npm i` line of the sh blocks, as [name, version] pairs (no version: undefined). */
export const installLines = (markdown: string): ReadonlyArray<ReadonlyArray<readonly [string, string | undefined]>> =>
  [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) =>
    m[1]!.split("\n").filter((line) => /^npm i /.test(line)).map((line) =>
      line.replace(/#.*/, "").trim().split(/\s+/).slice(2).filter((word) => !word.startsWith("-")).map((word) => {
        const at = word.indexOf("@", 1)
        return at === -1 ? [word, undefined] as const : [word.slice(0, at), word.slice(at + 1)] as const
      })
    )
  )
