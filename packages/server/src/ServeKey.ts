/**
 * The proxy's API key: the bearer token every client must send, so that a
 * port on this machine does not hand the subscription to any program (or web
 * page) that finds it.
 *
 * - A key given explicitly (`--api-key`, `SUBAUTH_SERVE_KEY`) is used as is.
 * - Otherwise one is generated on first start (32 bytes from `SecureRandom`,
 *   `sk-subauth-…`), stored in a file created 0600 in a 0700 directory, and
 *   reused from then on. A key file that other users can read is refused, not
 *   repaired, as subauth's token files are.
 * - Keys are compared in constant time (SHA-256 of both, then
 *   `timingSafeEqual`), and never logged or put in an error.
 *
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { SecureRandom } from "@subauth/core"
import { Effect, Either, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { dirname } from "node:path"
import { StartError } from "./ProxyError.js"

/**
 * The key file's name under `SUBAUTH_HOME`.
 *
 * @since 0.1.0
 * @category constants
 */
export const FILE_NAME = "serve-key"

/**
 * Where the key in use came from: given explicitly, read from the key file,
 * or generated now (and written to the key file).
 *
 * @since 0.1.0
 * @category models
 */
export type Source = "given" | "file" | "generated"

/**
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly key: Redacted.Redacted<string>
  readonly source: Source
}

const visible = /^[\x21-\x7e]{1,512}$/

/**
 * The key, if it can travel in an `Authorization` header: 1 to 512 visible
 * ASCII characters.
 *
 * @since 0.1.0
 * @category utils
 */
export const validate = (key: Redacted.Redacted<string>): Either.Either<Redacted.Redacted<string>, StartError> =>
  visible.test(Redacted.value(key))
    ? Either.right(key)
    : Either.left(new StartError({ reason: "InvalidKey", description: `${Redacted.value(key).length} characters` }))

/**
 * A new key: `sk-subauth-` and 32 random bytes in base64url.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate: Effect.Effect<Redacted.Redacted<string>, never, SecureRandom.SecureRandom> = Effect.map(
  SecureRandom.base64Url(32),
  (random) => Redacted.make(`sk-subauth-${random}`)
)

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

/**
 * Whether `presented` is the key, in time that does not depend on where they
 * differ (both are hashed first, so their lengths do not leak either).
 *
 * @since 0.1.0
 * @category utils
 */
export const matches = (key: Redacted.Redacted<string>, presented: string): boolean =>
  timingSafeEqual(digest(Redacted.value(key)), digest(presented))

/**
 * The token of an `Authorization: Bearer <token>` header.
 *
 * @since 0.1.0
 * @category utils
 */
export const bearer = (authorization: string | undefined): Option.Option<string> => {
  const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  return m === null ? Option.none() : Option.some(m[1]!)
}

// Mode bits mean nothing on Windows; the user profile's ACLs protect the file there.
const checksModes = process.platform !== "win32"

const isReason = (reason: string) => (error: PlatformError) => error._tag === "SystemError" && error.reason === reason

const fileFailed = (path: string, doing: string) => (error: PlatformError) =>
  new StartError({
    reason: "KeyFileFailed",
    location: path,
    description: `could not ${doing}${isReason("PermissionDenied")(error) ? ": permission denied" : ""}`,
    cause: error
  })

const readKeyFile = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isReason("NotFound"), () => Effect.succeedNone),
      Effect.mapError(fileFailed(path, "inspect it"))
    )
    if (Option.isNone(info)) return Option.none<Redacted.Redacted<string>>()
    if (checksModes && (info.value.mode & 0o077) !== 0) {
      return yield* new StartError({
        reason: "KeyFileInsecure",
        location: path,
        description: `mode 0${(info.value.mode & 0o777).toString(8)}`
      })
    }
    const text = yield* fs.readFileString(path).pipe(Effect.mapError(fileFailed(path, "read it")))
    const key = yield* validate(Redacted.make(text.trim())).pipe(
      Effect.mapError((error) => new StartError({ reason: "KeyFileFailed", location: path, description: error.message }))
    )
    return Option.some(key)
  })

/**
 * The key to use: `given` if there is one (validated), else the one in
 * `file`, else a new one written to `file` (0600; its directory is made 0700).
 * Two servers starting at once agree: the file is created exclusively, and
 * the loser reads the winner's key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = Effect.fn("ServeKey.resolve")(function*(options: {
  readonly given: Option.Option<Redacted.Redacted<string>>
  readonly file: string
}): Effect.fn.Return<Resolved, StartError, FileSystem.FileSystem | SecureRandom.SecureRandom> {
  if (Option.isSome(options.given)) return { key: yield* validate(options.given.value), source: "given" as const }
  const stored = yield* readKeyFile(options.file)
  if (Option.isSome(stored)) return { key: stored.value, source: "file" as const }
  const fs = yield* FileSystem.FileSystem
  yield* fs.makeDirectory(dirname(options.file), { recursive: true, mode: 0o700 }).pipe(
    Effect.mapError(fileFailed(dirname(options.file), "create its directory"))
  )
  const key = yield* generate
  const created = yield* fs.writeFileString(options.file, `${Redacted.value(key)}\n`, { flag: "wx", mode: 0o600 }).pipe(
    Effect.as(true),
    Effect.catchIf(isReason("AlreadyExists"), () => Effect.succeed(false)),
    Effect.mapError(fileFailed(options.file, "write it"))
  )
  if (created) {
    yield* Effect.logInfo(`generated a new API key for the proxy in ${options.file}`)
    return { key, source: "generated" as const }
  }
  const theirs = yield* readKeyFile(options.file)
  return Option.isSome(theirs)
    ? { key: theirs.value, source: "file" as const }
    : yield* new StartError({ reason: "KeyFileFailed", location: options.file, description: "it disappeared while being read" })
})
