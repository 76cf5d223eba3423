/**
 * The entry point of every command (the bundle `dist/subauth.cjs`): with
 * `fastBin.ts` and `internal/edge.ts`, the only place where layers meet argv and
 * the environment.
 */
// Deep imports: the package's index would also load undici, which cannot be tree-shaken.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createInterface } from "node:readline"
import { main } from "./Cli.js"
import { runMain } from "./internal/edge.js"

// A line from stdin, prompted on stderr (stdout may be piped).
const readLine = (prompt: string) =>
  Effect.async<Option.Option<string>>((resume) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true })
    let answered = false
    rl.question(prompt, (answer) => {
      answered = true
      rl.close()
      resume(Effect.succeed(Option.some(answer)))
    })
    rl.once("close", () => {
      if (!answered) resume(Effect.succeed(Option.none()))
    })
    return Effect.sync(() => rl.close())
  })

// All of stdin when it is piped (a prompt for ask); none on a terminal.
const readAll = Effect.async<Option.Option<string>>((resume) => {
  if (process.stdin.isTTY === true) return resume(Effect.succeed(Option.none()))
  const chunks: Array<Buffer> = []
  process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
  process.stdin.once("end", () => resume(Effect.succeed(Option.some(Buffer.concat(chunks).toString("utf8")))))
  process.stdin.once("error", () => resume(Effect.succeed(Option.none())))
})

runMain(
  main(process.argv, { readLine, readAll }).pipe(
    // What @effect/cli needs, and no more (NodeContext would also load workers and child processes).
    Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer))
  )
)
