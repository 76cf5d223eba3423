/**
 * The browser login's loopback server on Node: `node:http` bound to 127.0.0.1
 * only (never all interfaces, unlike opencode's built-in plugin). When the
 * first port is taken, a stale login server there is asked to exit
 * (`GET /cancel`, as codex-rs does), binding is retried for about 2 seconds,
 * then the next port is tried; if every port stays taken the login fails with
 * `PortInUse`, naming the ports and what to do.
 *
 * @see protocol.md §1.2
 * @since 0.1.0
 */
import * as CallbackServer from "@subauth/core/CallbackServer"
import * as LoginError from "@subauth/core/LoginError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { connect } from "node:net"

const HOST = "127.0.0.1"
const ATTEMPTS = 10
const RETRY_DELAY = Duration.millis(200)

const securityHeaders = {
  connection: "close",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"
}

/**
 * Asks whatever listens on `port` to exit, as a stale login server would.
 * Bounded by 2 seconds; never fails.
 */
const cancelStale = (port: number) =>
  Effect.async<void>((resume) => {
    const socket = connect({ host: HOST, port })
    const done = () => {
      socket.destroy()
      resume(Effect.void)
    }
    socket.setTimeout(2000, done)
    socket.once("error", done)
    socket.once("close", done)
    socket.once("connect", () => {
      socket.end(`GET /cancel HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`)
    })
    socket.on("data", () => {})
    return Effect.sync(() => socket.destroy())
  })

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

const bind = (port: number, onRequest: RequestListener) =>
  Effect.async<Server, "busy" | Error>((resume) => {
    const server = createServer(onRequest)
    server.requestTimeout = 30_000
    server.headersTimeout = 10_000
    const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(error.code === "EADDRINUSE" ? "busy" : error))
    server.once("error", onError)
    server.listen({ port, host: HOST, exclusive: true }, () => {
      server.off("error", onError)
      resume(Effect.succeed(server))
    })
  })

const close = (server: Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeIdleConnections()
    // A browser holding a connection open must not keep the login alive.
    setTimeout(() => server.closeAllConnections(), 500).unref()
  })

const portInUse = (ports: ReadonlyArray<number>) =>
  new LoginError.LoginError({
    reason: "PortInUse",
    description: `port ${ports.map((p) => `${HOST}:${p}`).join(" and ")} ${ports.length > 1 ? "are" : "is"} in use. ` +
      "Another sign-in may be waiting (finish or close it), or another program holds the port. " +
      "Sign in without a local port with --device (or --paste), or choose a port with --port <n>."
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<CallbackServer.CallbackServer["Type"]> = Effect.sync(() => ({
  listen: Effect.fn("CallbackServer.listen")(function*({ handler, ports }: CallbackServer.ListenOptions) {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runPromise(runtime)
    const onRequest: RequestListener = (req, res) => {
      const target = req.url ?? "/"
      let url: URL
      try {
        url = new URL(target, `http://${HOST}`)
      } catch {
        res.writeHead(400, { ...securityHeaders, "content-type": "text/plain; charset=utf-8" }).end("Bad Request")
        return
      }
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
      }
      run(handler({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, targetLength: target.length, headers }))
        .then(
          (response) => {
            res.writeHead(response.status, { ...securityHeaders, "content-type": response.contentType }).end(response.body)
          },
          () => res.writeHead(500, securityHeaders).end()
        )
    }

    for (const [index, port] of ports.entries()) {
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        const bound = yield* Effect.either(bind(port, onRequest))
        if (bound._tag === "Right") {
          const server = bound.right
          yield* Effect.addFinalizer(() => close(server))
          const address = server.address()
          return { port: typeof address === "object" && address !== null ? address.port : port }
        }
        if (bound.left !== "busy") {
          return yield* new LoginError.LoginError({
            reason: "PortInUse",
            // The system's code (EACCES, EADDRNOTAVAIL), which a program can act on and the CLI says in words.
            description: `could not listen on ${HOST}:${port} (${(bound.left as NodeJS.ErrnoException).code ?? bound.left.message})`
          })
        }
        if (index === 0 && attempt === 1) yield* cancelStale(port)
        if (attempt < ATTEMPTS) yield* Effect.sleep(RETRY_DELAY)
      }
    }
    return yield* portInUse(ports)
  })
}))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<CallbackServer.CallbackServer> = Layer.effect(CallbackServer.CallbackServer, make)
