import { HttpRouter } from "@effect/platform"
import type { SubscriptionLLM } from "@subauth/core"
import { ItemStore, OpenAIProxy } from "@subauth/server"
import { Effect } from "effect"

// Your server's way of knowing who is asking: a user id and their SubscriptionLLM (from the request's headers).
export const gateway = <E, R>(
  user: Effect.Effect<{ readonly id: string; readonly llm: SubscriptionLLM.SubscriptionLLM.Service }, E, R>
) =>
  HttpRouter.empty.pipe(
    // Each request under /gateway/v1/… is answered with that user's SubscriptionLLM; their earlier output is theirs only.
    HttpRouter.mountApp("/gateway", Effect.flatMap(user, ({ id, llm }) => OpenAIProxy.httpApp(llm, { owner: `user:${id}` })))
  )

// One store for every user, bounded per user; provide it to the server's layer.
export const Store = ItemStore.layerMemory({ maxBytes: 512 * 1024 * 1024, maxBytesPerOwner: 16 * 1024 * 1024 })
