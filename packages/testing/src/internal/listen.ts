import type { HttpServer, HttpServerError } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, type Scope } from "effect"
import { createServer } from "node:http"

/**
 * A server on a free port of 127.0.0.1 for the life of the scope, and its
 * `http://127.0.0.1:<port>`. `name` is for the defect when the address is not
 * TCP (it always is).
 */
export const listen = (name: string): Effect.Effect<
  { readonly server: HttpServer.HttpServer; readonly url: string },
  HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage(`${name}: expected a TCP address`)
    return { server, url: `http://127.0.0.1:${address.port}` }
  })
