/**
 * What the CLI knows about its environment, read once at the edge (`bin.ts`)
 * through `Config`, so commands never touch `process.env`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { homedir } from "node:os"
import { join } from "node:path"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `SUBAUTH_HOME`: stores, locks and consent records. */
  readonly home: string
  /** `CODEX_HOME`, for the codex store. */
  readonly codexHome: string
  /** `SUBAUTH_ISSUER`. */
  readonly issuer: Option.Option<string>
  /** `SUBAUTH_CODEX_URL`. */
  readonly codexUrl: Option.Option<string>
  /** `SUBAUTH_ALLOW_INSECURE_HTTP=1`: http:// issuer and backend on loopback hosts. */
  readonly allowInsecureHttp: boolean
  /** Prompts are possible: stdin and stdout are terminals and this is not CI. */
  readonly interactive: boolean
  /** Colour on stdout (a terminal, and no `NO_COLOR`). */
  readonly color: boolean
  /** stderr is a terminal: spinners and secret warnings go there. */
  readonly stderrIsTTY: boolean
  /** stdout is a terminal. */
  readonly stdoutIsTTY: boolean
  /** A browser can probably be opened here (a desktop session, not SSH). */
  readonly displayLikely: boolean
  /** `process.platform`: what to advise about the keychain. */
  readonly platform: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Settings extends Context.Tag("@subauth/cli/Settings")<Settings, Service>() {}

/**
 * The facts about the process's terminals and platform, which `Config` cannot read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Terminals {
  readonly stdinIsTTY: boolean
  readonly stdoutIsTTY: boolean
  readonly stderrIsTTY: boolean
  readonly platform: string
}

const flag = (name: string) =>
  Config.string(name).pipe(
    Config.map((v) => v !== "" && v !== "0" && v.toLowerCase() !== "false"),
    Config.withDefault(false)
  )
const optional = (name: string) => Config.option(Config.nonEmptyString(name))

// A switch that weakens security is read strictly: the words `Config.boolean` takes (a program reading it with
// `Config.boolean` agrees), unset or empty is off, and anything else is an error rather than a guess.
const SWITCH_ON = new Set(["true", "yes", "on", "1", "y"])
const SWITCH_OFF = new Set(["", "false", "no", "off", "0", "n"])
const strictSwitch = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((value) => {
      const word = value.trim().toLowerCase()
      return SWITCH_ON.has(word)
        ? Either.right(true)
        : SWITCH_OFF.has(word)
        ? Either.right(false)
        : Either.left(ConfigError.InvalidData([name], `${name} is ${JSON.stringify(value.slice(0, 40))}: say true or false (or 1/0, yes/no, on/off)`))
    })
  )

/**
 * Reads the environment through `Config`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (terminals: Terminals): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const home = yield* optional("SUBAUTH_HOME")
    const codexHome = yield* optional("CODEX_HOME")
    const ci = yield* flag("CI")
    const noColor = yield* Config.option(Config.string("NO_COLOR"))
    const display = yield* optional("DISPLAY")
    const wayland = yield* optional("WAYLAND_DISPLAY")
    const ssh = yield* optional("SSH_CONNECTION")
    const desktop = terminals.platform === "darwin" || terminals.platform === "win32" ||
      Option.isSome(display) || Option.isSome(wayland)
    return {
      home: Option.getOrElse(home, () => join(homedir(), ".subauth")),
      codexHome: Option.getOrElse(codexHome, () => join(homedir(), ".codex")),
      issuer: yield* optional("SUBAUTH_ISSUER"),
      codexUrl: yield* optional("SUBAUTH_CODEX_URL"),
      allowInsecureHttp: yield* strictSwitch("SUBAUTH_ALLOW_INSECURE_HTTP"),
      interactive: terminals.stdinIsTTY && terminals.stdoutIsTTY && !ci,
      // NO_COLOR: present and not empty turns colour off, whatever its value (no-color.org).
      color: terminals.stdoutIsTTY && Option.isNone(Option.filter(noColor, (value) => value !== "")),
      stderrIsTTY: terminals.stderrIsTTY,
      stdoutIsTTY: terminals.stdoutIsTTY,
      displayLikely: desktop && Option.isNone(ssh),
      platform: terminals.platform
    }
  }).pipe(
    // Only a switch read strictly can be wrong; anything else here has a default.
    Effect.catchAll((error) => (error._op === "InvalidData" ? Effect.fail(error) : Effect.die(error)))
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (terminals: Terminals): Layer.Layer<Settings, ConfigError.ConfigError> => Layer.effect(Settings, fromConfig(terminals))

const levels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None
}

/**
 * `SUBAUTH_LOG`: `debug`, `info`, `warning` (or `warn`), `error`, `none`, in
 * any case. Effect's own `Config.logLevel` takes only its labels (`WARN`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const logLevel: Config.Config<LogLevel.LogLevel> = Config.string("SUBAUTH_LOG").pipe(
  Config.mapOrFail((value) => {
    const level = levels[value.trim().toLowerCase()]
    return level !== undefined
      ? Either.right(level)
      : Either.left(ConfigError.InvalidData([], `SUBAUTH_LOG must be one of ${Object.keys(levels).join(", ")}`))
  })
)
