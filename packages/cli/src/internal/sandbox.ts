/**
 * What the sandboxes (`subauth demo`, `subauth broker demo`) share.
 */
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A temporary directory, removed with the scope, and also when the process
 * exits at once (a closed pipe: `subauth demo | head`).
 */
export const temporaryDirectory = (prefix: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const path = mkdtempSync(join(tmpdir(), prefix))
        const remove = () => rmSync(path, { recursive: true, force: true })
        process.once("exit", remove)
        return { path, remove }
      }),
      ({ remove }) =>
        Effect.sync(() => {
          process.removeListener("exit", remove)
          remove()
        })
    ),
    ({ path }) => path
  )
