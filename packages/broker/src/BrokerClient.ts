/**
 * The typed client of the broker, derived from the same `HttpApi` definition
 * the server implements: every route a method, every body a schema, every
 * error a class. The API key travels as a bearer token on every request and
 * is redacted wherever headers are printed.
 *
 * ```ts
 * const broker = yield* BrokerClient.BrokerClient
 * const token = yield* broker.users.token({ path: { user_id: "alice" }, payload: { min_ttl_seconds: 600 } })
 * ```
 *
 * @since 0.1.0
 */
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Effect, Layer, type Redacted } from "effect"
import { BrokerApi } from "./BrokerApi.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The broker's base URL, e.g. `http://127.0.0.1:8790`. */
  readonly url: string
  /** A tenant API key (`sab_…`). */
  readonly apiKey: Redacted.Redacted<string>
}

/**
 * Builds the client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  HttpApiClient.make(BrokerApi, {
    baseUrl: options.url.replace(/\/+$/, ""),
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(options.apiKey))
  })

/**
 * @since 0.1.0
 * @category models
 */
export type Client = Effect.Effect.Success<ReturnType<typeof make>>

/**
 * @since 0.1.0
 * @category tags
 */
export class BrokerClient extends Context.Tag("@subauth/broker/BrokerClient")<BrokerClient, Client>() {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<BrokerClient, never, HttpClient.HttpClient> =>
  Layer.effect(BrokerClient, make(options))
