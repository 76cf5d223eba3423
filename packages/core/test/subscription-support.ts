import { NodeHttpClient } from "@effect/platform-node"
import { FakeCodexBackend, type FakeHttp, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel } from "effect"
import type * as SubscriptionLLM from "../src/SubscriptionLLM.js"
import type * as TokenManager from "../src/TokenManager.js"
import * as TokenManagerModule from "../src/TokenManager.js"
import * as TokenStore from "../src/TokenStore.js"

/**
 * One fake issuer for a whole file: making its RSA key costs about 0.1 s of
 * CPU, too much to repeat per test. Use with
 * `layer(sharedIssuer, { excludeTestServices: true })` (real clock).
 */
export const sharedIssuer = FakeOAuthServer.layer()

/**
 * Per test, against the shared issuer (whose request log and faults are
 * cleared first): a fresh fake backend, memory store and `TokenManager` over
 * node:http, with quick retries.
 */
export const backendOnly = (
  options: { readonly backend?: Partial<FakeCodexBackend.Settings>; readonly manager?: TokenManager.Options } = {}
) =>
  FakeCodexBackend.layer(options.backend).pipe(
    Layer.provideMerge(TokenManagerModule.layer({ retry: { baseDelay: "2 millis" }, ...options.manager })),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(FakeOAuthServer.layerProvider),
    Layer.provideMerge(NodeHttpClient.layer),
    Layer.provideMerge(Layer.effectDiscard(
      Effect.flatMap(FakeOAuthServer.FakeOAuthServer, (issuer) => Effect.zipRight(issuer.clearRequests, issuer.clearFaults))
    ))
  )

/** {@link backendOnly} with `SubscriptionLLM.layer` pointed at the fake backend. */
export const backendHarness = (
  options: Parameters<typeof backendOnly>[0] & {
    readonly client?: Omit<SubscriptionLLM.Options, "baseUrl" | "allowInsecureHttp">
  } = {}
) =>
  FakeCodexBackend.layerClient({ retry: { baseDelay: "2 millis" }, ...options.client }).pipe(
    Layer.provideMerge(backendOnly(options))
  )

/** The requests the fake backend received on one endpoint. */
export const backendRequests = (endpoint: "responses" | "models" | "usage" = "responses") =>
  Effect.map(
    Effect.flatMap(FakeCodexBackend.FakeCodexBackend, (backend) => backend.requests),
    (requests) => requests.filter((r): r is FakeHttp.RecordedRequest => r.endpoint === endpoint)
  )

/** The JSON body of a recorded request. */
export const bodyOf = (request: FakeHttp.RecordedRequest): Record<string, any> => JSON.parse(request.body)

export const headerOf = (request: FakeHttp.RecordedRequest, name: string) =>
  request.headers.find(([n]) => n === name)?.[1]

/** Runs `effect` with every log line (logfmt and JSON) captured into `lines`. */
export const captureLogs = (lines: Array<string>) =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.make<unknown, void>((options) => {
        lines.push(Logger.logfmtLogger.log(options))
        lines.push(Logger.jsonLogger.log(options))
      })
    ),
    Logger.minimumLogLevel(LogLevel.All)
  )
