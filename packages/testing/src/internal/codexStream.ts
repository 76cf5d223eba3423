/**
 * Renders a scripted answer as the Codex backend streams it: the event
 * sequence of `fixtures/codex-cli/sse-full-sse.txt` (created, in_progress,
 * per item added / deltas / done, then completed), extended to reasoning
 * items and function calls as the Responses API streams them.
 */

import type { Ending, ScriptItem } from "../FakeCodexBackend.js"

export interface RenderContext {
  readonly model: string
  readonly createdAt: number
  readonly includeEncrypted: boolean
  readonly randomHex: (bytes: number) => string
  /** Remembers the encrypted content of a reasoning item it hands out. */
  readonly issueEncrypted: () => string
  readonly usage: Readonly<Record<string, unknown>>
}

/** The SSE frames of an answer, the events before the ending and the ending's events separately. */
export interface Rendered {
  readonly body: ReadonlyArray<Record<string, unknown>>
  readonly ending: ReadonlyArray<Record<string, unknown>>
}

const split = (text: string, chunks: number): Array<string> => {
  const n = Math.max(1, Math.min(chunks, text.length))
  const size = Math.ceil(text.length / n)
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out.length > 0 ? out : [""]
}

export const render = (items: ReadonlyArray<ScriptItem>, ending: Ending, ctx: RenderContext): Rendered => {
  const id = `resp_fake_${ctx.randomHex(6)}`
  const response = (status: string, output: ReadonlyArray<unknown>) => ({
    id,
    object: "response",
    created_at: ctx.createdAt,
    model: ctx.model,
    status,
    output
  })
  const body: Array<Record<string, unknown>> = [
    { type: "response.created", response: response("in_progress", []) },
    { type: "response.in_progress", response: response("in_progress", []) }
  ]
  const done: Array<unknown> = []
  items.forEach((item, output_index) => {
    switch (item.type) {
      case "message": {
        const item_id = `msg_fake_${ctx.randomHex(6)}`
        const part = { type: "output_text", annotations: [], text: item.text }
        const final = {
          id: item_id,
          type: "message",
          status: "completed",
          role: "assistant",
          content: [{ type: "output_text", annotations: [], logprobs: [], text: item.text }]
        }
        body.push(
          {
            type: "response.output_item.added",
            output_index,
            item: { id: item_id, type: "message", status: "in_progress", role: "assistant", content: [] }
          },
          { type: "response.content_part.added", item_id, output_index, content_index: 0, part: { ...part, text: "" } },
          ...split(item.text, item.chunks).map((delta) => ({
            type: "response.output_text.delta",
            item_id,
            output_index,
            content_index: 0,
            delta
          })),
          { type: "response.output_text.done", item_id, output_index, content_index: 0, text: item.text },
          { type: "response.content_part.done", item_id, output_index, content_index: 0, part },
          { type: "response.output_item.done", output_index, item: final }
        )
        done.push(final)
        break
      }
      case "reasoning": {
        const item_id = `rs_fake_${ctx.randomHex(6)}`
        const encrypted = ctx.includeEncrypted ? { encrypted_content: ctx.issueEncrypted() } : {}
        const final = {
          id: item_id,
          type: "reasoning",
          summary: item.summary.map((text) => ({ type: "summary_text", text })),
          ...encrypted
        }
        body.push({ type: "response.output_item.added", output_index, item: { id: item_id, type: "reasoning", summary: [], ...encrypted } })
        item.summary.forEach((text, summary_index) => {
          const part = { type: "summary_text", text }
          body.push(
            { type: "response.reasoning_summary_part.added", item_id, output_index, summary_index, part: { ...part, text: "" } },
            { type: "response.reasoning_summary_text.delta", item_id, output_index, summary_index, delta: text },
            { type: "response.reasoning_summary_text.done", item_id, output_index, summary_index, text },
            { type: "response.reasoning_summary_part.done", item_id, output_index, summary_index, part }
          )
        })
        body.push({ type: "response.output_item.done", output_index, item: final })
        done.push(final)
        break
      }
      case "function_call": {
        const item_id = `fc_fake_${ctx.randomHex(6)}`
        const call_id = item.callId ?? `call_fake_${ctx.randomHex(8)}`
        const final = { id: item_id, type: "function_call", status: "completed", arguments: item.arguments, call_id, name: item.name }
        body.push(
          {
            type: "response.output_item.added",
            output_index,
            item: { ...final, status: "in_progress", arguments: "" }
          },
          { type: "response.function_call_arguments.delta", item_id, output_index, delta: item.arguments },
          { type: "response.function_call_arguments.done", item_id, output_index, arguments: item.arguments },
          { type: "response.output_item.done", output_index, item: final }
        )
        done.push(final)
        break
      }
    }
  })
  switch (ending._tag) {
    case "Completed":
      return {
        body,
        ending: [{
          type: "response.completed",
          response: { ...response("completed", ending.output === "items" ? done : []), usage: ctx.usage }
        }]
      }
    case "Failed":
      return { body, ending: [{ type: "response.failed", response: { ...response("failed", []), error: ending.error } }] }
    case "Incomplete":
      return {
        body,
        ending: [{
          type: "response.incomplete",
          response: { ...response("incomplete", done), incomplete_details: { reason: ending.reason }, usage: ctx.usage }
        }]
      }
    case "Cut":
      return { body: ending.after === undefined ? body : body.slice(0, ending.after), ending: [] }
  }
}

/** Numbers the events and writes them as SSE frames, as the real backend does. */
export const frames = (events: ReadonlyArray<Record<string, unknown>>, from = 0): Array<string> =>
  events.map((event, i) =>
    `event: ${String(event.type)}\ndata: ${JSON.stringify({ type: event.type, sequence_number: from + i, ...event })}\n\n`
  )
