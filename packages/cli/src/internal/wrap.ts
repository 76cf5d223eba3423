/**
 * Text fitted to a terminal. Prose is wrapped between words at the terminal's
 * width (at most {@link MAX_WIDTH} columns; never inside a word, so an address
 * or a token stays whole even when it is wider), a continued line indented
 * under the text of its first: after a `- ` bullet, a `label: ` (`error:`,
 * `note:`) or a `name   value` column. A status line is cut to the width
 * instead, since a line wider than the terminal leaves a copy behind at every
 * redraw. Off a terminal nothing is wrapped: one paragraph a line.
 */

/** Wider lines are hard to read, whatever the terminal. */
export const MAX_WIDTH = 100

/** Narrower than this, a continued line is not indented (it would leave too little room). */
const MIN_TEXT = 20

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g

/** The columns `text` takes (its SGR styles take none). */
export const visibleLength = (text: string): number => {
  let n = 0
  for (const _ of text.replace(SGR, "")) n++
  return n
}

/** Where a line's text starts: its indentation and a bullet, a label or a first column. */
const HANGING = /^( *)(- |[A-Za-z][\w-]*: |\S+ {2,})?/

/** One line wrapped at `width` columns between words, continued under its text. */
export const wrapLine = (line: string, width: number): string => {
  if (visibleLength(line) <= width) return line
  const plain = line.replace(SGR, "")
  const [hanging = "", lead = ""] = HANGING.exec(plain) ?? []
  const indent = width - hanging.length >= MIN_TEXT ? hanging.length : width - lead.length >= MIN_TEXT ? lead.length : 0
  const leading = /^ */.exec(line)![0]
  // Words with the spaces before them; the first line keeps its own spacing (a column's padding).
  const parts = line.slice(leading.length).split(/( +)/)
  const lines: Array<string> = []
  let current = leading
  let length = leading.length
  let empty = true
  for (let i = 0; i < parts.length; i += 2) {
    const word = parts[i]!
    const space = i === 0 ? "" : parts[i - 1]!
    const size = visibleLength(word)
    if (!empty && length + space.length + size > width) {
      lines.push(current)
      current = " ".repeat(indent) + word
      length = indent + size
    } else {
      current += space + word
      length += space.length + size
    }
    empty = false
  }
  lines.push(current)
  return lines.join("\n")
}

/** `text` wrapped at `width` columns, each of its lines (paragraphs) on its own. */
export const wrap = (text: string, width: number): string =>
  text.split("\n").map((line) => wrapLine(line, width)).join("\n")

/** The width prose is wrapped at on a terminal of `columns`. */
export const proseWidth = (columns: number): number => Math.min(columns, MAX_WIDTH)

/**
 * `line` cut to `width` columns, ending in `…` when cut. A style left open by
 * the cut is closed.
 */
export const fit = (line: string, width: number): string => {
  if (visibleLength(line) <= width) return line
  let out = ""
  let n = 0
  let styled = false
  // eslint-disable-next-line no-control-regex
  for (const piece of line.split(/(\x1b\[[0-9;]*m)/)) {
    if (piece.startsWith("\x1b[")) {
      out += piece
      styled = true
      continue
    }
    for (const char of piece) {
      if (n >= width - 1) return `${out}…${styled ? "\x1b[0m" : ""}`
      out += char
      n++
    }
  }
  return out
}

/** The rows `text` (one line, no newline) takes on a terminal of `columns` that wraps it. */
export const rowsOf = (text: string, columns: number): number => Math.max(1, Math.ceil(visibleLength(text) / Math.max(1, columns)))
