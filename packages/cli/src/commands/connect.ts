/**
 * `subauth connect <url>`: the third way in on a broker's connect page. The
 * page shows this command with a one-time URL; it runs the normal browser
 * sign-in here (where `localhost:1455` works) and hands the tokens to that
 * URL. Nothing is stored on this computer; the connect session decides the
 * app and the user. A sign-in the broker did not take is revoked at once.
 */
import { BrowserLogin, Printable, Provider, SecureRandom, TokenEndpoint } from "@subauth/core"
import type { Login } from "@subauth/core"
import { NodeBrowser, NodeCallbackServer } from "@subauth/node"
import { ConnectHandoff } from "@subauth/broker"
import { Browser } from "@subauth/core"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Either, Layer, Option } from "effect"
import { ExitCode, UsageError } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as TerminalUi from "../internal/terminalUi.js"
import { Output } from "../Output.js"
import { Settings } from "../Settings.js"

export interface Args {
  readonly url: string
  readonly port: Option.Option<number>
  readonly openBrowser: boolean
  readonly yes: boolean
  readonly json: boolean
}

// A sign-in that went nowhere is ended, so no grant is left behind (best effort: the broker answered, the tokens are ours).
const revoke = (obtained: Login.Obtained) =>
  Option.match(Option.fromNullable(obtained.response.refresh_token), {
    onNone: () => Effect.void,
    onSome: (token) => Effect.ignore(TokenEndpoint.revoke({ token, hint: "refresh_token" }))
  })

export const run = (args: Args, readLine: TerminalUi.ReadLine) =>
  Effect.gen(function*() {
    const output = yield* Output
    const settings = yield* Settings
    const { style } = output
    const url = yield* Either.match(ConnectHandoff.parseUrl(args.url), {
      onLeft: (message) => Effect.fail(new UsageError({ message })),
      onRight: Effect.succeed
    })
    const info = yield* ConnectHandoff.info(url)
    const provider = yield* Provider.Provider
    if (info.issuer !== provider.issuer || info.client_id !== provider.clientId) {
      return yield* new UsageError({
        message: `the broker at ${url.host} expects a sign-in at ${Printable.line(info.issuer)} (client ${Printable.line(info.client_id)}), ` +
          `but this subauth signs in at ${provider.issuer} (client ${provider.clientId}); set SUBAUTH_ISSUER only if you trust that issuer`
      })
    }
    const app = Printable.line(info.app ?? "an app")
    const user = Printable.line(info.user_id)
    yield* output.info(`This signs you in with ChatGPT and hands the sign-in to ${style.bold(url.host)} for ${style.bold(app)} (user ${user}).`)
    if (!args.yes) {
      if (!settings.interactive) {
        return yield* new UsageError({ message: "without a terminal, pass --yes to confirm where the sign-in goes" })
      }
      const answer = yield* readLine("Continue? [Y/n] ")
      if (Option.isNone(answer) || /^\s*n/i.test(answer.value)) {
        yield* output.info("Nothing was done.")
        return ExitCode.Failure
      }
    }
    const obtained = yield* BrowserLogin.obtain({
      openBrowser: args.openBrowser,
      ...Option.match(args.port, { onNone: () => ({}), onSome: (port) => ({ ports: [port] as const }) })
    }).pipe(Effect.map((response): Login.Obtained => ({ method: "browser", response })))
    const result = yield* ConnectHandoff.deliver(url, obtained.response).pipe(
      Effect.tapError((error) =>
        // An answer lost on the way may mean the broker took the tokens: leave them be.
        error._tag === "TransportError" && error.reason === "AnswerLost" ? Effect.void : revoke(obtained)
      )
    )
    if (result.status !== "connected") yield* revoke(obtained)
    if (args.json) {
      yield* output.json({ connected: result.status === "connected", app: info.app, userId: info.user_id, status: result.status, reason: result.reason })
    } else if (result.status === "connected") {
      yield* output.out(`${style.green("Connected.")} ${app} can now use your ChatGPT subscription (user ${user}); the page continues by itself.`)
      yield* output.info("Nothing was stored on this computer.")
    } else {
      yield* output.out(`${style.red("Not connected")}: ${Printable.line(result.message ?? result.reason ?? result.status)}. Start again on the page.`)
    }
    return result.status === "connected" ? ExitCode.Ok : ExitCode.Failure
  }).pipe(
    Effect.provide(
      Layer.unwrapEffect(Effect.map(Settings, (settings) =>
        Layer.mergeAll(
          NodeCallbackServer.layer,
          args.openBrowser ? NodeBrowser.layer : Browser.layerNoop,
          SecureRandom.layer,
          TerminalUi.layer(readLine),
          Layers.provider(settings),
          NodeHttpClient.layer
        )))
    )
  )
