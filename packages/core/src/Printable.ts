/**
 * Text that came from outside (a server's error description, a redirect's
 * `error_description`, pasted input, a model name, a claim), made safe to put
 * on a terminal or in a log: control characters removed, so that no escape
 * sequence from a server can retitle a window, clear a screen, move the cursor
 * or hide what comes before it.
 *
 * Removed: C0 controls (including ESC and BEL), DEL, C1 controls (U+0080 to
 * U+009F, where `U+009B` is a one-character CSI on some terminals), and the
 * Unicode bidirectional overrides and isolates, which reorder what a terminal
 * shows ("Trojan Source", CVE-2021-42574).
 *
 * @since 0.1.0
 */

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

/**
 * One line of outside text: tabs, newlines and carriage returns become spaces,
 * every other control character is removed.
 *
 * @since 0.1.0
 * @category utils
 */
export const line = (text: string): string =>
  ANY_CONTROL.test(text) ? text.replace(/[\t\n\r]/g, " ").replace(CONTROLS, "") : text

/**
 * Several lines of outside text (a model's answer on a terminal): newlines and
 * tabs are kept (`\r\n` becomes `\n`, a lone `\r` a newline), every other
 * control character is removed.
 *
 * @since 0.1.0
 * @category utils
 */
export const block = (text: string): string =>
  ANY_CONTROL.test(text) ? text.replace(/\r\n?/g, "\n").replace(CONTROLS, "") : text

/**
 * Whether `text` holds no character {@link line} would change.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLine = (text: string): boolean => !ANY_CONTROL.test(text)
