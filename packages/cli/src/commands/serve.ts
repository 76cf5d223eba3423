/**
 * `subauth serve`: the OpenAI-compatible proxy of `@subauth/server` on this
 * machine, backed by a profile's subscription, until SIGINT or SIGTERM (the
 * runtime interrupts `run`; the proxy's scope closes, which drains it). SIGTERM
 * is its normal stop (exit 0), Ctrl-C a cancellation (130).
 */
import * as SecureRandom from "@subauth/core/SecureRandom"
import * as TokenManager from "@subauth/core/TokenManager"
import { OpenAIProxy, ProxyError, ServeKey } from "@subauth/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { join } from "node:path"
import { ExitCode, UsageError } from "../internal/errors.js"
import * as Layers from "../internal/layers.js"
import * as StopSignal from "../internal/stopSignal.js"
import { Output } from "../Output.js"
import { Settings } from "../Settings.js"
import type { StoreChoice } from "./shared.js"

export interface Args {
  readonly port: number
  readonly host: string
  readonly profile: string
  readonly store: StoreChoice
  /** `--api-key` (on the command line, which every local user can read: it warns). */
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  /** `--api-key-file`. */
  readonly apiKeyFile?: Option.Option<string>
  /** `SUBAUTH_SERVE_KEY`. */
  readonly envApiKey?: Option.Option<Redacted.Redacted<string>>
  readonly allowRemote: boolean
  /** `--cors ORIGIN`, repeatable. */
  readonly cors: ReadonlyArray<string>
}

// Refusals that are about the command line: exit code 2, like any usage error.
const usageReasons: ReadonlySet<ProxyError.StartError["reason"]> = new Set(["RemoteNotAllowed", "WeakKey", "InvalidKey"])

type KeySource = "flag" | "file" | "env"

/** The key the user gave, and how: `--api-key`, `--api-key-file`, `SUBAUTH_SERVE_KEY`, in that order. */
const givenKey = (args: Args): Effect.Effect<Option.Option<{ readonly key: Redacted.Redacted<string>; readonly source: KeySource }>, UsageError | ProxyError.StartError> => {
  const file = args.apiKeyFile ?? Option.none()
  if (Option.isSome(args.apiKey) && Option.isSome(file)) {
    return Effect.fail(new UsageError({ message: "give the key with --api-key or with --api-key-file, not both" }))
  }
  if (Option.isSome(args.apiKey)) return Effect.succeedSome({ key: args.apiKey.value, source: "flag" as const })
  if (Option.isSome(file)) return Effect.map(ServeKey.fromFile(file.value), (key) => Option.some({ key, source: "file" as const }))
  const env = args.envApiKey ?? Option.none()
  return Effect.succeed(Option.map(env, (key) => ({ key, source: "env" as const })))
}

const check = (args: Args) => {
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    return Effect.fail(new UsageError({ message: `--port must be a port number (0 to 65535), got ${args.port}` }))
  }
  if (OpenAIProxy.isLoopback(args.host)) return Effect.void
  if (!args.allowRemote) {
    return Effect.fail(new UsageError({
      message: `--host ${/^[\w.:[\]-]+$/.test(args.host) ? args.host : JSON.stringify(args.host)} is not a loopback address ` +
        `(127.0.0.1, ::1 or localhost): other machines could use your subscription; ` +
        `add --allow-remote (with a strong key of your own) if that is what you want, or use --host 127.0.0.1`
    }))
  }
  if (Option.isNone(args.apiKey) && Option.isNone(args.apiKeyFile ?? Option.none()) && Option.isNone(args.envApiKey ?? Option.none())) {
    return Effect.fail(new UsageError({
      message: `listening on ${args.host} needs a key you chose: SUBAUTH_SERVE_KEY or --api-key-file FILE ` +
        `(at least ${ProxyError.MIN_REMOTE_KEY_LENGTH} characters)`
    }))
  }
  return Effect.void
}

export const run = (args: Args) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const output = yield* Output
    const { style } = output
    yield* StopSignal.sigtermIsNormalStop
    yield* check(args)
    const given = yield* givenKey(args)
    if (Option.isSome(given) && given.value.source === "flag") {
      yield* output.info(
        `${style.yellow("warning:")} --api-key puts the key on the command line, which every user of this machine ` +
          `can read (ps, /proc/<pid>/cmdline); set SUBAUTH_SERVE_KEY or use --api-key-file instead`
      )
    }
    // The home is checked before a key is read from it or written to it (ServeKey.resolve).
    const keyFile = join(settings.home, ServeKey.FILE_NAME)
    const { key, source } = yield* ServeKey.resolve({ given: Option.map(given, (g) => g.key), file: keyFile }).pipe(
      Effect.provide(SecureRandom.layer)
    )
    const stack = OpenAIProxy.layer({
      apiKey: key,
      host: args.host,
      port: args.port,
      network: args.allowRemote ? "allow-remote" : "loopback-only",
      cors: args.cors,
      // Earlier output that clients refer to is the profile's.
      itemOwner: args.profile
    }).pipe(Layer.provideMerge(Layers.llm(args, settings)))

    return yield* Effect.scoped(Effect.gen(function*() {
      // A key made for a start that fails is not kept: nobody was shown it.
      const context = yield* Layer.build(stack).pipe(
        Effect.tapError(() => source === "generated" ? ServeKey.forget(keyFile, key) : Effect.void)
      )
      const proxy = Context.get(context, OpenAIProxy.OpenAIProxy)
      const base = `${proxy.url}/v1`
      const keyText = source === "generated"
        ? Redacted.value(key)
        : source === "file"
        ? `$(cat '${keyFile}')`
        : Option.isSome(given) && given.value.source === "file"
        ? `$(cat '${Option.getOrElse(args.apiKeyFile ?? Option.none(), () => "")}')`
        : "<your key>"
      yield* output.out(`${style.green("Listening")} on ${style.bold(base)} (profile ${args.profile})`)
      yield* output.out(
        source === "generated"
          ? `API key: ${style.bold(Redacted.value(key))}\n  (new; stored in ${keyFile}, shown only this once)`
          : source === "file"
          ? `API key: the one in ${keyFile}`
          : `API key: the one you gave (${
            Option.isSome(given)
              ? { flag: "--api-key", file: "--api-key-file", env: "SUBAUTH_SERVE_KEY" }[given.value.source]
              : "--api-key"
          })`
      )
      yield* output.out(`Use it from any OpenAI client:\n  OPENAI_BASE_URL=${base} OPENAI_API_KEY=${keyText} <your tool>`)
      if (!OpenAIProxy.isLoopback(args.host)) {
        yield* output.info(style.yellow(`warning: listening on ${args.host}: anyone who can reach this port and has the key can use your subscription`))
      }
      if (args.cors.length > 0) yield* output.info(`CORS allowed for: ${args.cors.join(", ")}`)
      // Not fatal: signing in while the server runs works, the next request finds the tokens.
      yield* Context.get(context, TokenManager.TokenManager).get.pipe(
        Effect.catchAll((error) => output.info(`${style.yellow("warning:")} ${error.message}`))
      )
      yield* output.info(style.dim("Press Ctrl-C to stop; requests in flight are allowed to finish."))
      return yield* Effect.never.pipe(
        Effect.onInterrupt(() => output.info("Stopping: finishing the requests in flight…")),
        Effect.as(ExitCode.Ok)
      )
    }))
  }).pipe(
    Effect.catchTag("StartError", (error): Effect.Effect<never, UsageError | ProxyError.StartError> =>
      Effect.fail(usageReasons.has(error.reason) ? new UsageError({ message: error.message }) : error))
  )
