import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Clock, Effect, Option, Schema, Stream } from "effect"
import type { Fault, RecordedRequest, Rule } from "../FakeHttp.js"

/** A request with its body already read, handed to a fake endpoint. */
export interface Incoming extends RecordedRequest {
  readonly url: URL
  readonly json: unknown
  readonly header: (name: string) => string | undefined
  readonly field: (name: string) => string | undefined
}

// Effect's `Schema.parseJson`, as everywhere else that reads JSON text: none when the body is not JSON.
const parseJson = Schema.decodeOption(Schema.parseJson())

const fieldsOf = (contentType: string | undefined, body: string): {
  fields: Array<readonly [string, string]>
  json: unknown
} => {
  if (contentType?.includes("application/x-www-form-urlencoded")) {
    return { fields: [...new URLSearchParams(body)], json: undefined }
  }
  const json = Option.getOrUndefined(parseJson(body))
  const fields = typeof json === "object" && json !== null && !Array.isArray(json)
    ? Object.entries(json).map(([k, v]): readonly [string, string] => [k, typeof v === "string" ? v : JSON.stringify(v)])
    : []
  return { fields, json }
}

/** `size` bytes: `prefix`, then `fill` repeated, in chunks of about 64 KiB made as they are pulled. */
const largeBody = (prefix: string, fill: string, size: number): Stream.Stream<Uint8Array> => {
  const encoder = new TextEncoder()
  const head = encoder.encode(prefix).subarray(0, size)
  const unit = encoder.encode(fill.length > 0 ? fill : "x")
  const block = new Uint8Array(Math.max(1, Math.floor(65536 / unit.length)) * unit.length)
  for (let i = 0; i < block.length; i += unit.length) block.set(unit, i)
  return Stream.concat(
    Stream.make(head),
    Stream.unfold(size - head.length, (left) => left <= 0 ? Option.none() : Option.some([block.subarray(0, Math.min(left, block.length)), left - block.length] as const))
  )
}

interface ActiveRule {
  readonly rule: Rule
  seen: number
}

/** The request log and fault rules of one fake server. */
export const makeRecorder = () => {
  const log: Array<RecordedRequest> = []
  const counts = new Map<string, number>()
  let rules: Array<ActiveRule> = []

  const matching = (request: RecordedRequest): Array<Fault> => {
    const out: Array<Fault> = []
    for (const active of rules) {
      const { rule } = active
      if (rule.endpoint !== "*" && rule.endpoint !== request.endpoint) continue
      if (rule.when !== undefined && !rule.when(request)) continue
      active.seen += 1
      const calls = rule.calls ?? "all"
      if (calls === "all" || calls.includes(active.seen)) out.push(rule.fault)
    }
    return out
  }

  const respondWith = (
    fault: Exclude<Fault, { _tag: "Latency" | "LostAnswer" }>,
    request: HttpServerRequest.HttpServerRequest
  ) => {
    switch (fault._tag) {
      case "LargeBody":
        return Effect.succeed(
          HttpServerResponse.stream(largeBody(fault.prefix, fault.fill, fault.size), { status: fault.status, headers: fault.headers })
        )
      case "Trickle": {
        const encoder = new TextEncoder()
        const chunk = encoder.encode(fault.chunk)
        const body = Stream.concat(
          Stream.make(encoder.encode(fault.prefix)),
          Stream.repeatEffect(Effect.as(Effect.sleep(fault.every), chunk))
        )
        return Effect.succeed(HttpServerResponse.stream(body, { status: fault.status, headers: fault.headers }))
      }
      case "Status":
        return Effect.succeed(
          typeof fault.body === "string"
            ? HttpServerResponse.text(fault.body, { status: fault.status, headers: fault.headers })
            : HttpServerResponse.unsafeJson(fault.body, { status: fault.status, headers: fault.headers })
        )
      case "MalformedJson":
        return Effect.succeed(
          HttpServerResponse.text(`{"access_token": "eyJhbGciOiJSUzI1NiJ9.cut`, {
            status: fault.status,
            contentType: "application/json"
          })
        )
      case "Reset":
        return Effect.zipRight(
          Effect.sync(() => NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()),
          Effect.never
        )
    }
  }

  /**
   * Wraps an endpoint handler: reads the body once, logs the request, applies
   * the faults that match, then runs the handler.
   */
  const instrument = <E, R>(
    endpoint: string,
    handler: (incoming: Incoming) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = yield* Effect.orElseSucceed(request.text, () => "")
      const url = new URL(request.originalUrl, "http://127.0.0.1")
      const raw = NodeHttpServerRequest.toIncomingMessage(request).rawHeaders
      const headers: Array<readonly [string, string]> = []
      for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i]!.toLowerCase(), raw[i + 1]!])
      const contentType = request.headers["content-type"]
      const { fields, json } = fieldsOf(contentType, body)
      const call = (counts.get(endpoint) ?? 0) + 1
      counts.set(endpoint, call)
      const base: RecordedRequest = {
        endpoint,
        call,
        method: request.method,
        path: url.pathname,
        query: [...url.searchParams],
        headers,
        contentType,
        body,
        fields,
        at: yield* Clock.currentTimeMillis,
        fault: undefined
      }
      const faults = matching(base)
      const terminal = faults.find((f): f is Exclude<Fault, { _tag: "Latency" }> => f._tag !== "Latency")
      const lost = terminal?._tag === "LostAnswer"
      const recorded: RecordedRequest = { ...base, fault: terminal?._tag ?? faults[0]?._tag }
      log.push(recorded)
      for (const fault of faults) {
        if (fault._tag === "Latency") yield* Effect.sleep(fault.delay)
      }
      // A client that went away during the delay never reached the endpoint: its request was lost on the way.
      if (faults.some((f) => f._tag === "Latency") && NodeHttpServerRequest.toIncomingMessage(request).socket.destroyed) {
        return yield* Effect.interrupt
      }
      if (terminal !== undefined && terminal._tag !== "LostAnswer") return yield* respondWith(terminal, request)
      const incoming: Incoming = {
        ...recorded,
        url,
        json,
        header: (name) => request.headers[name.toLowerCase()],
        field: (name) => fields.find(([k]) => k === name)?.[1]
      }
      if (!lost) return yield* handler(incoming)
      // The endpoint acts; its answer is lost with the connection.
      yield* Effect.ignore(handler(incoming))
      return yield* Effect.zipRight(
        Effect.sync(() => NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()),
        Effect.never
      )
    })

  return {
    instrument,
    requests: Effect.sync((): ReadonlyArray<RecordedRequest> => [...log]),
    clearRequests: Effect.sync(() => void log.splice(0, log.length)),
    inject: (rule: Rule) => Effect.sync(() => void rules.push({ rule, seen: 0 })),
    clearFaults: Effect.sync(() => void (rules = []))
  }
}
