/**
 * Everything the CLI prints. Results go to stdout (plain text, or one JSON
 * document with `--json`); messages, prompts, spinners and errors go to
 * stderr, so `subauth token | …` pipes only the token. Colour only on a
 * terminal without `NO_COLOR`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Settings } from "./Settings.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A line of the result, on stdout. */
  readonly out: (text: string) => Effect.Effect<void>
  /** Text as it arrives (a streamed answer), on stdout, without a newline. */
  readonly write: (text: string) => Effect.Effect<void>
  /** A JSON document, on stdout. */
  readonly json: (value: unknown) => Effect.Effect<void>
  /** A message for the person, on stderr. */
  readonly info: (text: string) => Effect.Effect<void>
  /** Rewrites the current stderr line (spinners); a no-op unless stderr is a terminal. */
  readonly status: (text: string) => Effect.Effect<void>
  readonly style: Style
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly red: (s: string) => string
  readonly green: (s: string) => string
  readonly yellow: (s: string) => string
  readonly cyan: (s: string) => string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Output extends Context.Tag("@subauth/cli/Output")<Output, Service>() {}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`

/**
 * ANSI styles, or none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const styleOf = (color: boolean): Style =>
  color
    ? { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) }
    : { bold: (s) => s, dim: (s) => s, red: (s) => s, green: (s) => s, yellow: (s) => s, cyan: (s) => s }

// What may reach a terminal: text, newlines, tabs, and SGR sequences (the styles above). Everything else a
// server could have slipped into a string (ESC sequences that retitle a window or clear the screen, BEL,
// carriage returns, C1 controls, bidi overrides) is removed here, whatever the command forgot.
// eslint-disable-next-line no-control-regex
const UNSAFE = /\x1b(?!\[[0-9;]{0,16}m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g

/**
 * `text` with nothing but text, newlines, tabs and SGR styles.
 *
 * @since 0.1.0
 * @category utils
 */
export const terminalSafe = (text: string): string => text.replace(UNSAFE, "")

// JSON.stringify escapes C0 controls but leaves DEL, C1 and bidi controls raw.
// eslint-disable-next-line no-control-regex
const JSON_UNSAFE = /[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const jsonText = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/**
 * Writes to two sinks (the process's stdout and stderr, or a test's buffers).
 * Text is made {@link terminalSafe}; JSON has every string whole, escaped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  sinks: { readonly stdout: (text: string) => void; readonly stderr: (text: string) => void },
  options: { readonly color: boolean; readonly stderrIsTTY: boolean }
): Service => {
  let statusShown = false
  const clearStatus = () => {
    if (statusShown) {
      sinks.stderr("\r\x1b[2K")
      statusShown = false
    }
  }
  return {
    out: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(`${terminalSafe(text)}\n`))),
    write: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(terminalSafe(text)))),
    json: (value) => Effect.sync(() => (clearStatus(), sinks.stdout(`${jsonText(value)}\n`))),
    info: (text) => Effect.sync(() => (clearStatus(), sinks.stderr(`${terminalSafe(text)}\n`))),
    status: (text) =>
      options.stderrIsTTY
        ? Effect.sync(() => {
          if (text === "") return clearStatus()
          sinks.stderr(`\r\x1b[2K${terminalSafe(text)}`)
          statusShown = true
        })
        : Effect.void,
    style: styleOf(options.color)
  }
}

/**
 * The process's stdout and stderr, styled as `Settings` says.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Output, never, Settings> = Layer.effect(
  Output,
  Effect.map(Settings, (settings) =>
    make(
      { stdout: (t) => void process.stdout.write(t), stderr: (t) => void process.stderr.write(t) },
      { color: settings.color, stderrIsTTY: settings.stderrIsTTY }
    ))
)
