import * as Printable from "../Printable.js"

/**
 * Replaces every occurrence of a known secret in `text` (for instance a token
 * that a misbehaving server echoed back in an error description), and anything
 * shaped like a JWT, removes control characters (see `Printable.line`), and
 * caps the length, so that error fields built from server text never carry a
 * secret or an escape sequence.
 */
// Anything starting like a JWT (base64url of `{"`), whole or in part, even one we did not send.
const JWT = /eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}/g

export const scrub = (text: string, secrets: ReadonlyArray<string>, maxLength = 300): string => {
  // Only the part that can be kept is looked at (a server's text may be as long as its body), with room for a
  // secret that starts in it and ends after it.
  const room = secrets.reduce((n, secret) => Math.max(n, secret.length), 0) + maxLength + 16
  let out = Printable.line(text.length > room ? text.slice(0, room) : text).replace(JWT, "<redacted>")
  for (const secret of secrets) {
    if (secret.length >= 8) out = out.split(secret).join("<redacted>")
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out
}

/**
 * A platform error in a few plain words (`permission denied`, `not found`),
 * for a message; its own text (paths, Node's code) belongs in the debug log.
 */
export const briefly = (error: { readonly _tag: string; readonly reason?: unknown }): string =>
  error._tag === "SystemError" && typeof error.reason === "string"
    ? error.reason.replace(/(?<=[a-z])(?=[A-Z])/g, " ").toLowerCase()
    : error._tag === "ParseError"
    ? "it does not encode"
    : "an error of the platform"
