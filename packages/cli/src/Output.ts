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
import * as Wrap from "./internal/wrap.js"
import { Settings, type Service as SettingsService } from "./Settings.js"

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
  /** A message for the person, on stderr; wrapped to its width on a terminal. */
  readonly info: (text: string) => Effect.Effect<void>
  /**
   * Rewrites the current stderr line (spinners), cut to the terminal's width, and
   * draws it again when the terminal is resized; a no-op unless stderr is a
   * terminal. Given a function, the line is made for the width it may take.
   */
  readonly status: (line: string | ((width: number) => string)) => Effect.Effect<void>
  /** Prose for stdout (`out`), wrapped to its width on a terminal, unchanged off one. */
  readonly wrap: (text: string) => string
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
 * The terminals the sinks write to: their widths now (undefined when a sink is
 * not a terminal), and a way to hear of a resize of stderr's.
 *
 * @since 0.1.0
 * @category models
 */
export interface Terminals {
  readonly stdoutColumns: () => number | undefined
  readonly stderrColumns: () => number | undefined
  /** Calls `listener` when stderr's terminal is resized, until the returned function is called. */
  readonly onResize: (listener: () => void) => () => void
}

const noTerminals: Terminals = { stdoutColumns: () => undefined, stderrColumns: () => undefined, onResize: () => () => {} }

/**
 * Writes to two sinks (the process's stdout and stderr, or a test's buffers).
 * Text is made {@link terminalSafe}; JSON has every string whole, escaped.
 * Prose on a terminal is wrapped to its width (`internal/wrap.ts`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  sinks: { readonly stdout: (text: string) => void; readonly stderr: (text: string) => void },
  options: { readonly color: boolean; readonly stderrIsTTY: boolean; readonly terminals?: Terminals }
): Service => {
  const terminals = options.terminals ?? noTerminals
  // A terminal that says it has no columns (0: some `docker exec -t`, serial consoles) has an unknown width.
  const known = (columns: number | undefined) => (columns !== undefined && columns > 0 ? columns : undefined)
  const wrapFor = (columns: number | undefined) => (text: string) => {
    const width = known(columns)
    return width === undefined ? text : Wrap.wrap(text, Wrap.proseWidth(width))
  }
  // The status line shown (as drawn, and how to draw it again), and the resize subscription while one is.
  let shown: { readonly text: string; readonly draw: (width: number) => string } | undefined
  let unsubscribe: (() => void) | undefined
  const columns = () => known(terminals.stderrColumns()) ?? 80
  // Back to the start of the status line and clear it: a terminal that was narrowed since may have wrapped it
  // onto several rows (most reflow their lines), and the cursor is on the last.
  const erase = (text: string) => {
    const rows = Wrap.rowsOf(text, columns())
    sinks.stderr(`\r${rows > 1 ? `\x1b[${rows - 1}A` : ""}\x1b[J`)
  }
  const draw = (make: (width: number) => string) => {
    // One column short of the width: a line that fills it wraps at once in some terminals.
    const width = Math.max(1, columns() - 1)
    const text = Wrap.fit(terminalSafe(make(width)), width)
    if (shown !== undefined) erase(shown.text)
    else sinks.stderr("\r\x1b[2K")
    sinks.stderr(text)
    shown = { text, draw: make }
  }
  const clearStatus = () => {
    if (shown !== undefined) {
      erase(shown.text)
      shown = undefined
      unsubscribe?.()
      unsubscribe = undefined
    }
  }
  return {
    out: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(`${terminalSafe(text)}\n`))),
    write: (text) => Effect.sync(() => (clearStatus(), sinks.stdout(terminalSafe(text)))),
    json: (value) => Effect.sync(() => (clearStatus(), sinks.stdout(`${jsonText(value)}\n`))),
    info: (text) =>
      Effect.sync(() => (clearStatus(), sinks.stderr(`${wrapFor(terminals.stderrColumns())(terminalSafe(text))}\n`))),
    status: (line) =>
      options.stderrIsTTY
        ? Effect.sync(() => {
          if (line === "") return clearStatus()
          draw(typeof line === "string" ? () => line : line)
          unsubscribe ??= terminals.onResize(() => {
            if (shown !== undefined) draw(shown.draw)
          })
        })
        : Effect.void,
    wrap: (text) => wrapFor(terminals.stdoutColumns())(text),
    style: styleOf(options.color)
  }
}

/**
 * The process's stdout and stderr, styled as `Settings` says.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Output, never, Settings> = Layer.effect(Output, Effect.map(Settings, (settings) => forProcess(settings)))

/**
 * The process's stdout and stderr, styled as `settings` say.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forProcess = (settings: SettingsService): Service =>
  make(
    { stdout: (t) => void process.stdout.write(t), stderr: (t) => void process.stderr.write(t) },
    {
      color: settings.color,
      stderrIsTTY: settings.stderrIsTTY,
      terminals: {
        stdoutColumns: () => (settings.stdoutIsTTY ? process.stdout.columns : undefined),
        stderrColumns: () => (settings.stderrIsTTY ? process.stderr.columns : undefined),
        onResize: (listener) => {
          process.stderr.on("resize", listener)
          return () => void process.stderr.off("resize", listener)
        }
      }
    }
  )
