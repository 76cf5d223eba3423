import { Effect } from "effect"
export const run = Effect.succeed(0)
