/**
 * The body of `POST {base}/responses` for a `SubscriptionLLM.Request`, as Codex
 * CLI 0.169 sends it, and what had to be left out. Pure.
 *
 * @see protocol.md §5.3, §9
 */
import * as CodexWire from "../CodexWire.js"
import type { Reasoning, Request } from "../SubscriptionLLM.js"

/**
 * The caller's options the backend rejects, with their wire names.
 */
export const UNSUPPORTED_PARAMETERS = {
  temperature: "temperature",
  topP: "top_p",
  maxOutputTokens: "max_output_tokens",
  maxCompletionTokens: "max_completion_tokens",
  presencePenalty: "presence_penalty",
  frequencyPenalty: "frequency_penalty",
  seed: "seed",
  topLogprobs: "top_logprobs"
} as const satisfies Partial<Record<keyof Request, string>>

/** What the service fills in when the request does not say. */
export interface Defaults {
  readonly model: string
  readonly reasoning: Reasoning | null
  readonly conversationId: string
}

/**
 * Why `item` cannot be sent with `store: false`, if it cannot: an
 * `item_reference` points at something the backend never stored, and a
 * reasoning item is only understood with its `encrypted_content`.
 */
export const unsendable = (item: CodexWire.Item): string | undefined => {
  const id = typeof item.id === "string" ? ` "${item.id}"` : ""
  if (item.type === "item_reference") {
    return `it is an "item_reference" to${id === "" ? " an item" : id}, which the backend cannot resolve: it stores ` +
      `nothing ("store": false); send the item itself, as the earlier answer returned it`
  }
  if (item.type === "reasoning" && typeof item.encrypted_content !== "string") {
    return `it is a reasoning item${id} without its "encrypted_content", which the backend needs to continue it ` +
      `("store": false); send it as the earlier answer returned it, or leave it out`
  }
  return undefined
}

/**
 * The request body for `request`, and what was left out: unsupported
 * parameters (by wire name), and input items that cannot be sent with
 * `store: false` (`item_reference`s, reasoning without `encrypted_content`).
 * Item ids are stripped: nothing is stored server-side, so an id can only
 * point at nothing ("Item with id … not found").
 *
 * @see protocol.md §5.3
 */
export const buildBody = (request: Request, defaults: Defaults): {
  readonly body: typeof CodexWire.ResponsesRequest.Encoded
  readonly dropped: ReadonlyArray<string>
  readonly droppedItems: ReadonlyArray<string>
} => {
  const dropped = Object.entries(UNSUPPORTED_PARAMETERS)
    .filter(([key]) => request[key as keyof Request] !== undefined)
    .map(([, wire]) => wire)
  const droppedItems: Array<string> = []
  const system = request.system === undefined ? [] : typeof request.system === "string" ? [request.system] : request.system
  const input: Array<CodexWire.Item> = system.map(CodexWire.developerMessage)
  for (const item of request.input) {
    if (unsendable(item) !== undefined) {
      droppedItems.push(item.type === "reasoning" ? "reasoning without encrypted_content" : "item_reference")
      continue
    }
    if ("id" in item) {
      const { id: _, ...rest } = item
      input.push(rest as CodexWire.Item)
    } else input.push(item)
  }
  const reasoning = request.reasoning === undefined ? defaults.reasoning : request.reasoning
  const body: typeof CodexWire.ResponsesRequest.Encoded = {
    model: request.model ?? defaults.model,
    ...(request.instructions !== undefined ? { instructions: request.instructions } : {}),
    stream: true,
    input,
    tools: (request.tools ?? []).map((tool) => ({
      type: "function" as const,
      name: tool.name,
      description: tool.description ?? "",
      strict: tool.strict ?? false,
      parameters: tool.parameters
    })),
    tool_choice: request.toolChoice ?? "auto",
    parallel_tool_calls: request.parallelToolCalls ?? true,
    reasoning,
    store: false,
    include: reasoning === null ? [] : ["reasoning.encrypted_content"],
    ...(request.serviceTier !== undefined ? { service_tier: request.serviceTier } : {}),
    prompt_cache_key: request.conversationId ?? defaults.conversationId,
    ...(request.text !== undefined ? { text: request.text } : {})
  }
  return { body, dropped, droppedItems }
}
