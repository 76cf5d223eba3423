/**
 * The pieces login tests share: a fake issuer, a memory store, Node's loopback
 * server and HTTP client, the real JWKS verifier, and a UI that records.
 */
import { KeyValueStore } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Browser, Consent, IdTokenVerifier, Login, LoginUI, SecureRandom, TokenStore } from "@subauth/core"
import { FakeOAuthServer } from "@subauth/testing"
import { type Duration, Effect, Fiber, Layer, Option, Ref, TestClock } from "effect"
import * as NodeCallbackServer from "../src/NodeCallbackServer.js"

/** A page the test browser ended on. */
export interface Visit {
  readonly status: number
  readonly body: string
  readonly callback: string
}

const visitOnce = (url: string, rewrite: (callback: URL) => string) =>
  Effect.promise(async (): Promise<Visit> => {
    const authorize = await fetch(url, { redirect: "manual" })
    const location = authorize.headers.get("location")
    if (location === null) return { status: authorize.status, body: await authorize.text(), callback: "" }
    const callback = rewrite(new URL(location))
    const page = await fetch(callback, { redirect: "manual" })
    return { status: page.status, body: await page.text(), callback }
  })

/** A browser that follows the authorize redirect to the callback, optionally altered, and records what it saw. */
export const makeBrowser = (rewrite: (callback: URL) => string = (u) => u.toString()) =>
  Effect.gen(function*() {
    const visits = yield* Ref.make<ReadonlyArray<Visit>>([])
    const layer = Browser.layerTest((url) => Effect.flatMap(visitOnce(url, rewrite), (v) => Ref.update(visits, (all) => [...all, v])))
    return { layer, visits: Ref.get(visits) }
  })

export const makeHarness = (
  options: {
    readonly server?: FakeOAuthServer.Options
    readonly ui?: { readonly interactive?: boolean; readonly answers?: ReadonlyArray<string> }
    readonly browser?: Layer.Layer<Browser.Browser>
  } = {}
) =>
  Effect.gen(function*() {
    const ui = yield* LoginUI.makeTest(options.ui ?? {})
    const layer = Layer.mergeAll(
      Consent.layer,
      IdTokenVerifier.layer(),
      NodeCallbackServer.layer,
      options.browser ?? Browser.layerNoop,
      SecureRandom.layer
    ).pipe(
      Layer.provideMerge(Layer.succeed(LoginUI.LoginUI, ui.service)),
      Layer.provideMerge(Layer.mergeAll(TokenStore.layerMemory, KeyValueStore.layerMemory, NodeHttpClient.layer)),
      Layer.provideMerge(FakeOAuthServer.layerProvider),
      Layer.provideMerge(FakeOAuthServer.layer(options.server))
    )
    return { layer, ui }
  })

/** What the store holds for the default profile, as a comparable value. */
export const stored = Effect.map(
  Effect.flatMap(TokenStore.TokenStore, (s) => s.get("default")),
  Option.map((t) => t.toString())
)

/** Runs `effect` in a fiber while moving the TestClock `step` at a time, until it ends. */
export const withClockDriven = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "1 second") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (Option.isNone(yield* Fiber.poll(fiber))) {
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 15)))
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

/** Lets real I/O happen under TestClock. */
export const realPause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

export const loginWith = <R>(flow: Layer.Layer<Login.LoginFlow, never, R>, options: Login.LoginOptions = { acceptTerms: true }) =>
  Login.login(options).pipe(Effect.provide(flow))

/** Waits (in real time) until the login has shown its authorize URL; the URL, and the port its callback server listens on. */
export const authorizeUrlShown = (ui: { readonly events: Effect.Effect<ReadonlyArray<LoginUI.LoginEvent>> }) =>
  Effect.gen(function*() {
    for (;;) {
      yield* realPause(5)
      const shown = (yield* ui.events).find((e) => e._tag === "AuthorizeUrl")
      if (shown?._tag === "AuthorizeUrl") {
        return { url: shown.url, port: Number(new URL(new URL(shown.url).searchParams.get("redirect_uri")!).port) }
      }
    }
  })
