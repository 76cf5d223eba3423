/**
 * A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records
 * every request (headers, the raw body, when it arrived) and answers the
 * status it is told to. Signatures are checked by the tests, with the
 * README's own `verifyWebhook`.
 */
import { Effect } from "effect"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly at: number
}

export interface Receiver {
  readonly url: string
  readonly port: number
  readonly received: ReadonlyArray<Received>
  /** The status of the next answers (default 200). */
  status: number
  /** Bodies of events whose `subauth-event` is `type`, parsed. */
  readonly events: (type?: string) => ReadonlyArray<any>
}

/** A receiver listening until the scope closes; `port` to listen on a given one (a receiver that comes back). */
export const receiver = (port = 0) =>
  Effect.acquireRelease(
    Effect.async<{ receiver: Receiver; server: Server }, Error>((resume) => {
      const received: Array<Received> = []
      const state: Receiver = {
        url: "",
        port: 0,
        received,
        status: 200,
        events: (type) =>
          received.filter((r) => type === undefined || r.headers["subauth-event"] === type).map((r) => JSON.parse(r.body))
      }
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string") headers[name] = value
          received.push({ headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() })
          response.writeHead(state.status, { "content-type": "text/plain" })
          response.end(state.status < 300 ? "ok" : "not now")
        })
      })
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(port, "127.0.0.1", () => {
        const bound = (server.address() as AddressInfo).port
        Object.assign(state, { url: `http://127.0.0.1:${bound}/hooks/subauth`, port: bound })
        resume(Effect.succeed({ receiver: state, server }))
      })
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
      )
  ).pipe(Effect.map(({ receiver }) => receiver))

/** A port nothing listens on (bound, then closed). */
export const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
)

/** Waits until `check` holds (at most `seconds`). */
export const eventually = <A>(check: () => A | undefined | false, seconds = 15) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds * 20; i++) {
      const found = check()
      if (found !== undefined && found !== false) return found
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.dieMessage(`still not so after ${seconds} s`)
  })
