/**
 * References to earlier output, resolved from the proxy's item store before a
 * turn goes to the backend, which stores nothing (`store: false`) and so
 * cannot resolve them itself: `item_reference`s, reasoning items sent back
 * without their `encrypted_content`, and `previous_response_id`. What cannot
 * be resolved is refused, naming it: never left out.
 */
import type { CodexWire } from "@subauth/core"
import { Effect, Option } from "effect"
import type { ItemStore, StoredResponse } from "../ItemStore.js"
import { RequestError } from "../ProxyError.js"

const SEND_IN_FULL = "the ChatGPT backend stores nothing (\"store\": false), so send earlier items in full, as the " +
  "response returned them (the Vercel AI SDK: providerOptions.openai.store = false; the openai clients: the " +
  "response's output items as they are)"

const unresolved = (param: string, description: string) =>
  new RequestError({ reason: "UnresolvedReference", param, description })

const notKept = "this proxy did not return it to this client, or no longer keeps it (it keeps recent answers for a while)"

/** `input` with every reference replaced by the item it names. */
export const resolveItems = (
  store: ItemStore.Service,
  owner: string,
  input: ReadonlyArray<CodexWire.Item>
): Effect.Effect<ReadonlyArray<CodexWire.Item>, RequestError> =>
  Effect.forEach(input, (item, index) => {
    const param = `input[${index}]`
    if (item.type === "item_reference") {
      if (typeof item.id !== "string") return Effect.fail(unresolved(`${param}.id`, `"${param}.id": an item_reference needs the id of an item`))
      const id = item.id
      return Effect.flatMap(store.lookup(owner, id), Option.match({
        onSome: (found) => Effect.succeed(found),
        onNone: () =>
          Effect.fail(unresolved(param, `"${param}" refers to item "${id}", which cannot be resolved: ${notKept}; ${SEND_IN_FULL}`))
      }))
    }
    if (item.type === "reasoning" && typeof item.encrypted_content !== "string") {
      const id = typeof item.id === "string" ? item.id : undefined
      const missing = (why: string) =>
        Effect.fail(unresolved(
          param,
          `"${param}" is a reasoning item without its "encrypted_content"${id !== undefined ? ` ("${id}")` : ""}, ` +
            `which the backend needs to continue it, and ${why}; ${SEND_IN_FULL}, or leave the reasoning item out`
        ))
      if (id === undefined) return missing("it has no id to find it by")
      return Effect.flatMap(store.lookup(owner, id), (found) =>
        Option.isSome(found) && typeof found.value.encrypted_content === "string"
          ? Effect.succeed({ ...item, encrypted_content: found.value.encrypted_content })
          : missing(notKept))
    }
    return Effect.succeed(item)
  })

/**
 * The conversation `previousResponseId` stands for: the input and output of
 * that response and of each it continued, oldest first.
 */
export const history = (
  store: ItemStore.Service,
  owner: string,
  previousResponseId: string
): Effect.Effect<ReadonlyArray<CodexWire.Item>, RequestError> =>
  Effect.gen(function*() {
    const chain: Array<StoredResponse> = []
    const seen = new Set<string>()
    let next: string | undefined = previousResponseId
    while (next !== undefined && !seen.has(next)) {
      seen.add(next)
      const found: Option.Option<StoredResponse> = yield* store.lookupResponse(owner, next)
      if (Option.isNone(found)) {
        const which = next === previousResponseId
          ? `"previous_response_id" names response "${next}", which cannot be resolved`
          : `"previous_response_id" continues response "${next}" (an earlier turn of the conversation), which cannot be resolved`
        return yield* unresolved(
          "previous_response_id",
          `${which}: ${notKept}; the ChatGPT backend stores nothing ("store": false), so send the whole conversation ` +
            `in "input" instead`
        )
      }
      chain.push(found.value)
      next = found.value.previousResponseId
    }
    return chain.reverse().flatMap((response) => [...response.input, ...response.output])
  })
