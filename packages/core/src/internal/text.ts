/**
 * Replaces every occurrence of a known secret in `text` (for instance a token
 * that a misbehaving server echoed back in an error description), and anything
 * shaped like a JWT, and caps the length, so that error fields built from
 * server text never carry a secret.
 */
// Anything starting like a JWT (base64url of `{"`), whole or in part, even one we did not send.
const JWT = /eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}/g

export const scrub = (text: string, secrets: ReadonlyArray<string>, maxLength = 300): string => {
  let out = text.replace(JWT, "<redacted>")
  for (const secret of secrets) {
    if (secret.length >= 8) out = out.split(secret).join("<redacted>")
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out
}
