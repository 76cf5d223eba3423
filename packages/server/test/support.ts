/**
 * The proxy on 127.0.0.1, backed by the fake Codex backend and the fake issuer
 * over loopback, with a signed-in memory store; and the official `openai`
 * client pointed at it.
 */
import { FakeCodexBackend } from "@subauth/testing"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import OpenAI from "openai"
import * as ItemStore from "../src/ItemStore.js"
import * as OpenAIProxy from "../src/OpenAIProxy.js"

/** The proxy's key in tests. */
export const KEY = Redacted.make("sk-subauth-test-key-0123456789abcdefghijklmnop")

export type ProxyOptions = Omit<OpenAIProxy.Options, "apiKey"> & { readonly apiKey?: Redacted.Redacted<string> }

/** The proxy on a free port, over the fakes (`FakeCodexBackend.layerTest`), with a memory item store of its own. */
export const layer = (
  options: ProxyOptions = {},
  fakes: FakeCodexBackend.TestOptions = {},
  store: ItemStore.Options = {}
) =>
  OpenAIProxy.layer({ apiKey: KEY, port: 0, ...options }).pipe(
    Layer.provideMerge(ItemStore.layerMemory(store)),
    Layer.provideMerge(FakeCodexBackend.layerTest(fakes)),
    Layer.orDie,
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )

/** An `openai` client for the proxy in context. */
export const client = (options: { readonly apiKey?: string; readonly maxRetries?: number } = {}) =>
  Effect.map(OpenAIProxy.OpenAIProxy, (proxy) =>
    new OpenAI({
      apiKey: options.apiKey ?? Redacted.value(KEY),
      baseURL: `${proxy.url}/v1`,
      maxRetries: options.maxRetries ?? 2
    }))

/** A promise as an effect whose failure is the rejection itself (for `Effect.flip`). */
export const call = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (error) => error })

/** The bodies the fake backend received at `/responses`, parsed. */
export const backendBodies = Effect.map(
  Effect.flatMap(FakeCodexBackend.FakeCodexBackend, (backend) => backend.requests),
  (requests) =>
    requests.filter((r) => r.endpoint === "responses" && r.fault === undefined).map((r) => JSON.parse(r.body) as Record<string, unknown>)
)

/** A raw HTTP request to the proxy in context (for what the SDK would not send). */
export const fetchProxy = (path: string, init: RequestInit = {}) =>
  Effect.flatMap(OpenAIProxy.OpenAIProxy, (proxy) => Effect.promise(() => fetch(`${proxy.url}${path}`, init)))

/** `Authorization` with the test key. */
export const authorized = { authorization: `Bearer ${Redacted.value(KEY)}`, "content-type": "application/json" }

/** Answers for the fake backend's next requests. */
export const enqueue = (...answers: ReadonlyArray<FakeCodexBackend.Answer>) =>
  Effect.flatMap(FakeCodexBackend.FakeCodexBackend, (fake) => fake.enqueue(...answers))
