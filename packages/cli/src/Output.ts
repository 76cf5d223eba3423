/**
 * Everything the CLI prints. Results go to stdout (plain text, or one JSON
 * document with `--json`); messages, prompts, spinners and errors go to
 * stderr, so `subauth token | …` pipes only the token. Colour only on a
 * terminal without `NO_COLOR`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
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

/**
 * Writes to two sinks (the process's stdout and stderr, or a test's buffers).
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
    out: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(`${text}\n`))),
    write: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(text))),
    json: (value) => Effect.sync(() => (clearStatus(), sinks.stdout(`${JSON.stringify(value, null, 2)}\n`))),
    info: (text) => Effect.sync(() => (clearStatus(), sinks.stderr(`${text}\n`))),
    status: (text) =>
      options.stderrIsTTY
        ? Effect.sync(() => {
          if (text === "") return clearStatus()
          sinks.stderr(`\r\x1b[2K${text}`)
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
