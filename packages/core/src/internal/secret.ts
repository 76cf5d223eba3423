import * as Redacted from "effect/Redacted"
import type { Secret } from "../TokenSet.js"

/** A token as `Redacted`, whichever way it came. */
export const redact = (secret: Secret): Redacted.Redacted<string> =>
  Redacted.isRedacted(secret) ? secret : Redacted.make(secret)

/** A token's value, for the places that must read it: the wire, claims, a store's serialisation. */
export const reveal = (secret: Secret): string => (Redacted.isRedacted(secret) ? Redacted.value(secret) : secret)
