/**
 * AES-256-GCM with additional authenticated data, as compact strings:
 * `v1.<iv>.<ciphertext and tag>` in base64url. The AAD is never stored; the
 * reader must know it, so a ciphertext moved to another row or column fails
 * to open.
 */
import { Either } from "effect"
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"

const VERSION = "v1"
const IV_BYTES = 12
const TAG_BYTES = 16

export const KEY_BYTES = 32

export const seal = (key: Uint8Array, aad: string, plaintext: Uint8Array): string => {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(aad, "utf8"))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
  return `${VERSION}.${iv.toString("base64url")}.${body.toString("base64url")}`
}

/** Why a sealed string did not open: not one of ours, or it fails authentication (wrong key, AAD or bytes). */
export type OpenFailure = "Malformed" | "Unauthentic"

const base64Url = /^[A-Za-z0-9_-]*$/

export const open = (key: Uint8Array, aad: string, sealed: string): Either.Either<Uint8Array, OpenFailure> => {
  const parts = sealed.split(".")
  if (parts.length !== 3 || parts[0] !== VERSION || !base64Url.test(parts[1]!) || !base64Url.test(parts[2]!)) {
    return Either.left("Malformed")
  }
  const iv = Buffer.from(parts[1]!, "base64url")
  const body = Buffer.from(parts[2]!, "base64url")
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) return Either.left("Malformed")
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(aad, "utf8"))
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
    return Either.right(Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]))
  } catch {
    return Either.left("Unauthentic")
  }
}

/** The parts of an AAD, joined so that no two different lists give the same string. */
export const aadOf = (...parts: ReadonlyArray<string>): string => parts.map((p) => `${p.length}:${p}`).join("|")
