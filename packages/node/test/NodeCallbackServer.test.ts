/**
 * The loopback server: 127.0.0.1 only, the stale-server /cancel, the fallback
 * port, PortInUse. Real sockets and real time (binding is retried every 200 ms).
 */
import { assert, describe, it } from "@effect/vitest"
import { CallbackServer } from "@subauth/core"
import { Effect } from "effect"
import { createServer, type Server } from "node:http"
import { connect } from "node:net"
import { networkInterfaces } from "node:os"
import * as NodeCallbackServer from "../src/NodeCallbackServer.js"

const ok = () => Effect.succeed({ status: 200, contentType: "text/plain", body: "ok" })

const occupy = (port: number, onCancel?: (server: Server) => void) =>
  Effect.acquireRelease(
    Effect.async<Server>((resume) => {
      const server = createServer((req, res) => {
        res.end("busy")
        if (req.url === "/cancel" && onCancel) onCancel(server)
      })
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const freePort = Effect.scoped(Effect.map(occupy(0), (s) => (s.address() as { port: number }).port))

const listen = (ports: readonly [number, ...Array<number>]) =>
  Effect.flatMap(CallbackServer.CallbackServer, (s) => s.listen({ ports, handler: ok }))

const reachable = (host: string, port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host, port })
    socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("NodeCallbackServer", () => {
  it.live("listens on 127.0.0.1 only and closes with its scope", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(
        Effect.gen(function*() {
          const { port } = yield* listen([0])
          assert.isTrue(yield* reachable("127.0.0.1", port))
          const external = Object.values(networkInterfaces()).flat().find((i) => i?.family === "IPv4" && !i.internal)
          if (external !== undefined) assert.isFalse(yield* reachable(external.address, port))
          const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/x`))
          assert.strictEqual(response.headers.get("connection"), "close")
          assert.strictEqual(response.headers.get("cache-control"), "no-store")
          return port
        })
      )
      assert.isFalse(yield* reachable("127.0.0.1", port))
    }).pipe(Effect.provide(NodeCallbackServer.layer)))

  it.live("a stale login server on the first port is asked to /cancel, and the port is taken over", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      let cancelled = false
      yield* occupy(port, (server) => {
        cancelled = true
        server.close()
        server.closeAllConnections()
      })
      const bound = yield* listen([port, 0])
      assert.isTrue(cancelled)
      assert.strictEqual(bound.port, port)
    }).pipe(Effect.scoped, Effect.provide(NodeCallbackServer.layer)))

  it.live("the next port when the first stays taken", () =>
    Effect.gen(function*() {
      const [first, second] = [yield* freePort, yield* freePort]
      yield* occupy(first)
      const bound = yield* listen([first, second])
      assert.strictEqual(bound.port, second)
    }).pipe(Effect.scoped, Effect.provide(NodeCallbackServer.layer)))

  it.live("1455 and 1457 both taken: PortInUse naming both, with what to do", () =>
    Effect.gen(function*() {
      yield* occupy(1455)
      yield* occupy(1457)
      const error = yield* Effect.flip(listen([1455, 1457]))
      assert.strictEqual(error.reason, "PortInUse")
      assert.include(error.message, "127.0.0.1:1455 and 127.0.0.1:1457")
      assert.include(error.message, "--device")
      assert.include(error.message, "--port")
    }).pipe(Effect.scoped, Effect.provide(NodeCallbackServer.layer)), 20_000)
})
