/**
 * A whole broker for tests: the fake issuer on 127.0.0.1, a fresh database of
 * the engine, a random master key, the services and the HTTP server on a free
 * port; and a plain `fetch` client for it (not our typed client), so the
 * tests see the wire as any app would.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { SqlClient } from "@effect/sql"
import { SecureRandom } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as Broker from "../src/Broker.js"
import * as BrokerServer from "../src/BrokerServer.js"
import * as KeyWrap from "../src/KeyWrap.js"
import type * as MasterKey from "../src/MasterKey.js"
import * as Tenants from "../src/Tenants.js"
import { database, type Engine, masterKeys } from "./support.js"

export interface HarnessOptions {
  readonly oauth?: FakeOAuthServer.Options
  /** A fake issuer already running (with a fake backend on it), instead of a new one. */
  readonly issuer?: FakeOAuthServer.FakeOAuthServer.Service
  readonly broker?: Partial<Broker.Options>
  readonly keys?: MasterKey.MasterKeys
  /** Instead of warnings and errors on the console. */
  readonly logging?: Layer.Layer<never>
}

// Request lines and the like are info; tests show warnings and errors only.
export const quiet = Logger.minimumLogLevel(LogLevel.Warning)

export const CODEX_URL = "http://127.0.0.1:9/backend-api/codex"

/** The broker on `engine`, its fake issuer and its database. */
export const brokerLayer = (engine: Engine, options: HarnessOptions = {}) => {
  const services = Broker.layer({
    backend: { baseUrl: CODEX_URL, originator: "codex_cli_rs" },
    sessions: { tick: Duration.millis(100) },
    ...options.broker
  })
  return BrokerServer.layer({ port: 0 }).pipe(
    Layer.provideMerge(services),
    Layer.provideMerge(KeyWrap.layerLocal(options.keys ?? masterKeys())),
    Layer.provideMerge(database(engine)),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(
      options.issuer !== undefined
        ? Layer.succeed(FakeOAuthServer.FakeOAuthServer, options.issuer)
        : FakeOAuthServer.layer({ deviceInterval: "1", devicePendingPolls: 1, ...options.oauth })
    ),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layer, SecureRandom.layer)),
    Layer.provide(options.logging ?? quiet)
  )
}

export type BrokerContext = Layer.Layer.Success<ReturnType<typeof brokerLayer>> | SqlClient.SqlClient

/** A response read whole: status, headers and the JSON body. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: any
  readonly text: string
}

/** A plain `fetch` to the broker. */
export const call = (
  method: string,
  path: string,
  options: { readonly key?: Redacted.Redacted<string> | string; readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    const { url } = yield* BrokerServer.BrokerServer
    const key = options.key === undefined ? undefined : typeof options.key === "string" ? options.key : Redacted.value(options.key)
    return yield* Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers
        },
        ...(options.body !== undefined ? { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) } : {})
      })
      const text = await response.text()
      let body: unknown
      try {
        body = text === "" ? undefined : JSON.parse(text)
      } catch {
        body = undefined
      }
      return { status: response.status, headers: response.headers, body, text }
    })
  })

/** A new tenant and its first key. */
export const tenant = (name = "app") =>
  Effect.flatMap(Tenants.Tenants, (tenants) => tenants.create(name)).pipe(Effect.map(({ key, tenant }) => ({ id: tenant.id, key: key.secret })))

/** Polls a session until it is no longer pending (at most `seconds`). */
export const waitForSession = (key: Redacted.Redacted<string>, id: string, seconds = 20) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds * 10; i++) {
      const session = yield* call("GET", `/v1/connect-sessions/${id}`, { key })
      if (session.status !== 200 || session.body.status !== "pending") return session
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage(`session ${id} was still pending after ${seconds} s`)
  })

/** A user connected by the device flow (the fake approves after one poll). */
export const connectByDevice = (key: Redacted.Redacted<string>, userId: string) =>
  Effect.gen(function*() {
    const created = yield* call("POST", "/v1/connect-sessions", { key, body: { user_id: userId, method: "device", accept_terms: true } })
    if (created.status !== 201) return yield* Effect.dieMessage(`create answered ${created.status}: ${created.text}`)
    const done = yield* waitForSession(key, created.body.id)
    if (done.body.status !== "connected") return yield* Effect.dieMessage(`session ended ${done.text}`)
    return done.body
  })
