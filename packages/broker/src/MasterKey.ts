/**
 * The master key that wraps every tenant's data key: 32 random bytes, written
 * as base64. Several may be configured at once, newest first: the first wraps,
 * all of them unwrap, which is how a rotation runs while the broker serves.
 *
 * It comes from `SUBAUTH_BROKER_MASTER_KEY` (one key, or several separated by
 * commas) or from a key file (one key a line, mode 0600). The embedded broker
 * makes its own key file on first start; replicas on PostgreSQL must be given
 * the same key.
 *
 * @since 0.1.0
 */
import { SecureRandom } from "@subauth/core"
import { Effect, Encoding, Either, Redacted } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { constants } from "node:fs"
import * as fs from "node:fs/promises"
import { dirname, join } from "node:path"
import { VaultError } from "./BrokerError.js"
import { KEY_BYTES } from "./internal/aead.js"

/**
 * The configured keys: `current` wraps new data keys; `previous` only unwrap.
 *
 * @since 0.1.0
 * @category models
 */
export interface MasterKeys {
  readonly current: Redacted.Redacted<Uint8Array>
  readonly previous: ReadonlyArray<Redacted.Redacted<Uint8Array>>
}

/**
 * A key's public name: the first 16 characters of base64url(SHA-256) over a
 * label and the key. Stored beside each wrapped data key, shown in messages.
 *
 * @since 0.1.0
 * @category utils
 */
export const idOf = (key: Redacted.Redacted<Uint8Array>): string =>
  createHash("sha256").update("subauth-broker master key id\u0000").update(Redacted.value(key)).digest("base64url").slice(0, 16)

const invalid = (where: string, detail: string) =>
  new VaultError({
    reason: "InvalidMasterKey",
    description: `${where} is not a master key: ${detail}; a key is base64 of 32 random bytes (make one with: openssl rand -base64 32)`
  })

/**
 * Parses keys separated by commas, spaces or newlines. The values are never
 * repeated in the error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: Redacted.Redacted<string>, where: string): Either.Either<MasterKeys, VaultError> => {
  const words = Redacted.value(text).split(/[\s,]+/).filter((w) => w.length > 0)
  if (words.length === 0) return Either.left(invalid(where, "it is empty"))
  const keys: Array<Redacted.Redacted<Uint8Array>> = []
  for (const [i, word] of words.entries()) {
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(word)
      ? Encoding.decodeBase64(word)
      : /^[A-Za-z0-9_-]+$/.test(word)
      ? Encoding.decodeBase64Url(word)
      : Either.left(undefined)
    if (Either.isLeft(decoded)) return Either.left(invalid(where, `key ${i + 1} is not base64`))
    if (decoded.right.length !== KEY_BYTES) {
      return Either.left(invalid(where, `key ${i + 1} has ${decoded.right.length} bytes, not ${KEY_BYTES}`))
    }
    keys.push(Redacted.make(decoded.right))
  }
  return Either.right({ current: keys[0]!, previous: keys.slice(1) })
}

/**
 * The keys as a key file holds them: one base64 key a line, current first.
 *
 * @since 0.1.0
 * @category utils
 */
export const format = (keys: MasterKeys): Redacted.Redacted<string> =>
  Redacted.make([keys.current, ...keys.previous].map((k) => `${Encoding.encodeBase64(Redacted.value(k))}\n`).join(""))

/**
 * A new random key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate: Effect.Effect<Redacted.Redacted<Uint8Array>, never, SecureRandom.SecureRandom> = Effect.map(
  SecureRandom.bytes(KEY_BYTES),
  Redacted.make
)

const fileError = (path: string, what: string, cause: unknown) =>
  new VaultError({
    reason: "NoMasterKey",
    description: `the master key file ${path} could not be ${what} (${(cause as { code?: string }).code ?? "error"})`,
    cause
  })

/**
 * Reads a key file. A file that other users could read is refused, as every
 * other secret file of subauth is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readFile = (path: string): Effect.Effect<MasterKeys, VaultError> =>
  Effect.gen(function*() {
    const handle = yield* Effect.tryPromise({
      try: () => fs.open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)),
      catch: (cause) => fileError(path, "opened", cause)
    })
    return yield* Effect.gen(function*() {
      const stat = yield* Effect.tryPromise({ try: () => handle.stat(), catch: (cause) => fileError(path, "read", cause) })
      if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
        return yield* new VaultError({
          reason: "InvalidMasterKey",
          description: `the master key file ${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}); ` +
            `make it private with: chmod 600 ${path}`
        })
      }
      if (stat.size > 4096) return yield* Effect.fail(invalid(`the file ${path}`, "it is larger than 4 KB"))
      const text = yield* Effect.tryPromise({ try: () => handle.readFile("utf8"), catch: (cause) => fileError(path, "read", cause) })
      return yield* parse(Redacted.make(text), `the file ${path}`)
    }).pipe(Effect.ensuring(Effect.promise(() => handle.close())))
  })

// The keys in a new private file beside `path` (its directory made 0700), synced; its path.
const writeBeside = async (path: string, keys: MasterKeys): Promise<string> => {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = join(dirname(path), `.master.key.${randomBytes(6).toString("hex")}.tmp`)
  const handle = await fs.open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  try {
    await handle.writeFile(Redacted.value(format(keys)), "utf8")
    await handle.sync()
  } finally {
    await handle.close()
  }
  return temporary
}

/**
 * Writes keys to a key file atomically (a 0600 temporary file renamed over
 * it), creating its directory 0700.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeFile = (path: string, keys: MasterKeys): Effect.Effect<void, VaultError> =>
  Effect.tryPromise({
    try: async () => fs.rename(await writeBeside(path, keys), path),
    catch: (cause) => fileError(path, "written", cause)
  })

/**
 * Creates a key file holding `keys`, unless one exists: then the existing
 * file's keys are returned. Two processes starting at once end with the same
 * key (the file is linked into place, which fails if another got there first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const createFile = (path: string, keys: MasterKeys): Effect.Effect<{ readonly keys: MasterKeys; readonly created: boolean }, VaultError> =>
  Effect.gen(function*() {
    const created = yield* Effect.tryPromise({
      try: async () => {
        const temporary = await writeBeside(path, keys)
        try {
          await fs.link(temporary, path)
          return true
        } catch (error) {
          if ((error as { code?: string }).code === "EEXIST") return false
          throw error
        } finally {
          await fs.unlink(temporary)
        }
      },
      catch: (cause) => fileError(path, "created", cause)
    })
    return { keys: created ? keys : yield* readFile(path), created }
  })

/**
 * Whether a file exists at `path`.
 *
 * @since 0.1.0
 * @category utils
 */
export const exists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() => fs.access(path).then(() => true, () => false))
