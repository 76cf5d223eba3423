/**
 * What the two streaming endpoints share: SSE framing, and the shape of an
 * encoder that turns `SubscriptionLLM` events into an API's stream.
 */
import type { SubscriptionLLM } from "@subauth/core"
import type { OpenAIError } from "../ProxyError.js"

/**
 * Turns one turn's events into SSE text. `event` may return "" (nothing to
 * send); exactly one of `end` (after `Completed`) or `failure` closes the stream.
 */
export interface Encoder {
  readonly event: (event: SubscriptionLLM.Event) => string
  readonly failure: (error: OpenAIError) => string
  readonly end: () => string
}

/** `data: <json>`, as Chat Completions streams. */
export const data = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`

/** `event: <type>` and `data: <json>`, as the Responses API streams. */
export const named = (type: string, payload: unknown): string => `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`
