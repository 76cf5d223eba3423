/**
 * Decoding a Codex backend stream: 100,000 `response.output_text.delta`
 * events (framed as the backend frames them, fed in 16 KiB chunks as a socket
 * delivers them) through `SubscriptionLLM.decodeEvents` (SSE framing, JSON,
 * Schema, typed events, the end-of-stream check), next to a minimal
 * hand-written line parser (split lines, `JSON.parse` each `data:` line) in the
 * same run. Then the heap while decoding a lazily produced stream of 10,000
 * and of 100,000 events: what the decoder keeps must stay flat.
 */
import { SubscriptionLLM } from "@subauth/core"
import { Effect, Stream } from "effect"
import { runInNewContext } from "node:vm"
import { setFlagsFromString } from "node:v8"
import { median, write } from "./results.js"

const EVENTS = 100_000
const CHUNK = 16 * 1024
const ROUNDS = 5

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const frame = (type: string, body: Record<string, unknown>, seq: number) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...body })}\n\n`

// The stream of one long answer: created, `deltas` text deltas, the finished message, completed.
function* frames(deltas: number): Generator<string> {
  const response = { id: "resp_bench", object: "response", created_at: 1795343373, model: "gpt-5.5", status: "in_progress", output: [] }
  yield frame("response.created", { response }, 0)
  const item_id = "msg_bench_f38afea0a14b"
  for (let i = 0; i < deltas; i++) {
    yield frame("response.output_text.delta", { item_id, output_index: 0, content_index: 0, delta: `token ${i} ` }, i + 1)
  }
  const item = { id: item_id, type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: "…" }] }
  yield frame("response.output_item.done", { output_index: 0, item }, deltas + 1)
  yield frame("response.completed", { response: { ...response, status: "completed", usage: { input_tokens: 1, output_tokens: deltas } } }, deltas + 2)
}

// Frames packed into socket-sized chunks, produced on demand.
function* chunks(deltas: number): Generator<Uint8Array> {
  const encoder = new TextEncoder()
  let pending = ""
  for (const f of frames(deltas)) {
    pending += f
    if (pending.length >= CHUNK) {
      yield encoder.encode(pending)
      pending = ""
    }
  }
  if (pending.length > 0) yield encoder.encode(pending)
}

// The baseline: what a minimal hand-written client does.
const baseline = (input: ReadonlyArray<Uint8Array>): number => {
  const decoder = new TextDecoder()
  let buffer = ""
  let events = 0
  for (const bytes of input) {
    buffer += decoder.decode(bytes, { stream: true })
    const lines = buffer.split("\n")
    buffer = lines.pop()!
    for (const line of lines) {
      if (line.startsWith("data: ")) {
        JSON.parse(line.slice(6))
        events++
      }
    }
  }
  return events
}

const decode = (input: Stream.Stream<Uint8Array>) =>
  SubscriptionLLM.decodeEvents(input).pipe(Stream.runFold(0, (n) => n + 1))

/**
 * Heap while decoding a stream produced on demand: the highest `heapUsed`
 * seen (sampled every 500 events; includes garbage not yet collected), and the
 * highest live heap (after a full GC at ten checkpoints): what the decoder
 * keeps, which must not grow with the stream.
 */
const heapWhileDecoding = (deltas: number) =>
  Effect.gen(function*() {
    gc()
    const start = process.memoryUsage().heapUsed
    let peak = start
    let live = start
    let seen = 0
    const checkpoint = Math.floor(deltas / 10)
    yield* SubscriptionLLM.decodeEvents(Stream.fromIteratorSucceed(chunks(deltas), 1)).pipe(
      Stream.runForEach(() =>
        Effect.sync(() => {
          seen++
          if (seen % 500 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed)
          if (seen % checkpoint === 0) {
            gc()
            live = Math.max(live, process.memoryUsage().heapUsed)
          }
        })
      )
    )
    return { peakMB: (peak - start) / 1024 / 1024, liveMB: (live - start) / 1024 / 1024 }
  })

export const run = async () => {
  const input = [...chunks(EVENTS)]
  const bytes = input.reduce((n, c) => n + c.length, 0)
  const events = EVENTS + 3
  const ours: Array<number> = []
  const base: Array<number> = []
  let decoded = 0
  for (let round = 0; round <= ROUNDS; round++) {
    const t0 = performance.now()
    decoded = await Effect.runPromise(decode(Stream.fromIteratorSucceed(input.values(), 1)))
    const t1 = performance.now()
    const counted = baseline(input)
    const t2 = performance.now()
    if (counted !== events) throw new Error(`baseline counted ${counted} events, expected ${events}`)
    if (round > 0) {
      ours.push(t1 - t0)
      base.push(t2 - t1)
    }
  }
  // `decodeEvents` stops after Completed: 100,000 deltas plus created, item done and completed.
  if (decoded !== events) throw new Error(`decoded ${decoded} events, expected ${events}`)
  const oursMs = median(ours)
  const baseMs = median(base)
  const memory10k = await Effect.runPromise(heapWhileDecoding(10_000))
  const memory100k = await Effect.runPromise(heapWhileDecoding(100_000))
  const mb = bytes / 1024 / 1024
  const result = {
    events,
    megabytes: Number(mb.toFixed(2)),
    chunkBytes: CHUNK,
    rounds: ROUNDS,
    decodeEvents: {
      ms: Number(oursMs.toFixed(1)),
      eventsPerSecond: Math.round(events / (oursMs / 1000)),
      megabytesPerSecond: Number((mb / (oursMs / 1000)).toFixed(1))
    },
    baselineLineParser: {
      ms: Number(baseMs.toFixed(1)),
      eventsPerSecond: Math.round(events / (baseMs / 1000)),
      megabytesPerSecond: Number((mb / (baseMs / 1000)).toFixed(1))
    },
    decodeToBaseline: Number((oursMs / baseMs).toFixed(2)),
    peakHeapMB: {
      at10kEvents: Number(memory10k.peakMB.toFixed(2)),
      at100kEvents: Number(memory100k.peakMB.toFixed(2))
    },
    liveHeapMB: {
      at10kEvents: Number(memory10k.liveMB.toFixed(2)),
      at100kEvents: Number(memory100k.liveMB.toFixed(2))
    },
    target: "at least 200,000 events/s; live heap at 100k events within 1 MB of the live heap at 10k",
    meetsTarget: events / (oursMs / 1000) >= 200_000 && memory100k.liveMB - memory10k.liveMB <= 1
  }
  write("sse-decoding", result)
  return result
}
