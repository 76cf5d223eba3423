/**
 * Replaces every occurrence of a known secret in `text` (for instance a token
 * that a misbehaving server echoed back in an error description) and caps the
 * length, so that error fields built from server text never carry a secret.
 */
export const scrub = (text: string, secrets: ReadonlyArray<string>, maxLength = 300): string => {
  let out = text
  for (const secret of secrets) {
    if (secret.length >= 8) out = out.split(secret).join("<redacted>")
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out
}
