/**
 * The proxy's API key: the bearer token every client must send, so that a
 * port on this machine does not hand the subscription to any program (or web
 * page) that finds it.
 *
 * - A key given explicitly (`SUBAUTH_SERVE_KEY`, `--api-key-file`, or
 *   `--api-key`, which every local user can see in `ps`) is used as is.
 * - Otherwise one is generated on first start (32 bytes from `SecureRandom`,
 *   `sk-subauth-…`), stored in a file created 0600 in a 0700 directory, and
 *   reused from then on. A key file or directory that other users can use is
 *   refused, not repaired, as subauth's token files are; the file is never
 *   followed through a symbolic link.
 * - Keys are compared in constant time (SHA-256 of both, then
 *   `timingSafeEqual`), and never logged or put in an error.
 *
 * @since 0.1.0
 */
import { SecureRandom } from "@subauth/core"
import { Effect, Either, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { constants, promises as fsp } from "node:fs"
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

// Mode bits and owners mean nothing on Windows; the user profile's ACLs protect the files there.
const checksModes = process.platform !== "win32"

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

// A file or directory is private when nobody else may use it: no group or other bits, and ours.
const privacyProblem = (info: { readonly mode: number; readonly uid: number }): string | undefined => {
  if (!checksModes) return undefined
  if ((info.mode & 0o077) !== 0) return `mode ${octal(info.mode)}`
  const uid = process.getuid?.()
  return uid !== undefined && info.uid !== uid ? `owned by another user (uid ${info.uid})` : undefined
}

const failed = (path: string, doing: string) => (cause: unknown) =>
  new StartError({
    reason: "KeyFileFailed",
    location: path,
    description: `could not ${doing}${(cause as { code?: unknown }).code === "EACCES" ? ": permission denied" : ""}`,
    cause
  })

const codeOf = (cause: unknown) => (cause as { code?: unknown } | undefined)?.code

/**
 * Makes sure the key file's directory exists and is private (0700, this
 * user's), creating it 0700 if it is missing, before anything is read from it
 * or written to it: a key is never put where others can read or replace it (a
 * 0755 home, a shared 1777 directory, another user's directory).
 *
 * @since 0.1.0
 * @category utils
 */
export const checkDirectory = (directory: string): Effect.Effect<void, StartError> =>
  Effect.gen(function*() {
    const existing = yield* Effect.tryPromise(() => fsp.stat(directory)).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => codeOf(e.error) === "ENOENT", () => Effect.succeedNone),
      Effect.mapError((e) => failed(directory, "inspect its directory")(e.error))
    )
    if (Option.isNone(existing)) {
      yield* Effect.tryPromise(() => fsp.mkdir(directory, { recursive: true, mode: 0o700 })).pipe(
        Effect.mapError((e) => failed(directory, "create its directory")(e.error))
      )
      return
    }
    if (!existing.value.isDirectory()) {
      return yield* new StartError({ reason: "KeyFileFailed", location: directory, description: "its directory is not a directory" })
    }
    const problem = privacyProblem(existing.value)
    if (problem !== undefined) {
      return yield* new StartError({ reason: "KeyDirectoryInsecure", location: directory, description: problem })
    }
  })

/**
 * The key in a file, which must be a regular file only this user can read.
 * With `followLinks: false` (the generated key's file) a symbolic link is
 * refused, and so is a file of another user.
 */
const readKey = (path: string, options: { readonly followLinks: boolean }) =>
  Effect.acquireUseRelease(
    Effect.tryPromise(() => fsp.open(path, constants.O_RDONLY | (options.followLinks ? 0 : constants.O_NOFOLLOW ?? 0))).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => codeOf(e.error) === "ENOENT", () => Effect.succeedNone),
      Effect.mapError((e) =>
        codeOf(e.error) === "ELOOP"
          ? new StartError({ reason: "KeyFileInsecure", location: path, description: "it is a symbolic link" })
          : failed(path, "open it")(e.error)
      )
    ),
    (handle) =>
      Effect.gen(function*() {
        if (Option.isNone(handle)) return Option.none<Redacted.Redacted<string>>()
        const info = yield* Effect.tryPromise(() => handle.value.stat()).pipe(Effect.mapError((e) => failed(path, "inspect it")(e.error)))
        if (!info.isFile()) return yield* new StartError({ reason: "KeyFileFailed", location: path, description: "it is not a file" })
        const problem = options.followLinks && (info.mode & 0o077) === 0 ? undefined : privacyProblem(info)
        if (problem !== undefined) return yield* new StartError({ reason: "KeyFileInsecure", location: path, description: problem })
        if (info.size > 4096) return yield* new StartError({ reason: "KeyFileFailed", location: path, description: "it is too large to hold a key" })
        const text = yield* Effect.tryPromise(() => handle.value.readFile("utf8")).pipe(Effect.mapError((e) => failed(path, "read it")(e.error)))
        const key = yield* validate(Redacted.make(text.trim())).pipe(
          Effect.mapError((error) => new StartError({ reason: "KeyFileFailed", location: path, description: error.message }))
        )
        return Option.some(key)
      }),
    (handle) => Option.isSome(handle) ? Effect.promise(() => handle.value.close()).pipe(Effect.ignore) : Effect.void
  )

/**
 * The key in a file the user names (`--api-key-file`): a regular file (a
 * symbolic link to one is fine) that others cannot read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (path: string): Effect.Effect<Redacted.Redacted<string>, StartError> =>
  Effect.flatMap(readKey(path, { followLinks: true }), (key) =>
    Option.isSome(key)
      ? Effect.succeed(key.value)
      : Effect.fail(new StartError({ reason: "KeyFileFailed", location: path, description: "it does not exist" })))

// Creates the file with the key, exclusively and without following a link (O_EXCL refuses any existing name).
const createKeyFile = (path: string, key: Redacted.Redacted<string>) =>
  Effect.acquireUseRelease(
    Effect.tryPromise(() => fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600)).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => codeOf(e.error) === "EEXIST", () => Effect.succeedNone),
      Effect.mapError((e) => failed(path, "write it")(e.error))
    ),
    (handle) =>
      Option.isNone(handle)
        ? Effect.succeed(false)
        : Effect.tryPromise(async () => {
          await handle.value.writeFile(`${Redacted.value(key)}\n`)
          await handle.value.sync()
          return true
        }).pipe(Effect.mapError((e) => failed(path, "write it")(e.error))),
    (handle) => Option.isSome(handle) ? Effect.promise(() => handle.value.close()).pipe(Effect.ignore) : Effect.void
  )

/**
 * The key to use: `given` if there is one (validated), else the one in
 * `file`, else a new one written to `file` (0600). The file's directory is
 * checked first, and made 0700 if missing: a directory others can use is
 * refused (`KeyDirectoryInsecure`) before anything is read or written, and
 * the file is never followed through a symbolic link or taken from another
 * user. Two servers starting at once agree: the file is created exclusively,
 * and the loser reads the winner's key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = Effect.fn("ServeKey.resolve")(function*(options: {
  readonly given: Option.Option<Redacted.Redacted<string>>
  readonly file: string
}): Effect.fn.Return<Resolved, StartError, SecureRandom.SecureRandom> {
  if (Option.isSome(options.given)) return { key: yield* validate(options.given.value), source: "given" as const }
  yield* checkDirectory(dirname(options.file))
  const stored = yield* readKey(options.file, { followLinks: false })
  if (Option.isSome(stored)) return { key: stored.value, source: "file" as const }
  const key = yield* generate
  if (yield* createKeyFile(options.file, key)) {
    yield* Effect.logInfo(`generated a new API key for the proxy in ${options.file}`)
    return { key, source: "generated" as const }
  }
  const theirs = yield* readKey(options.file, { followLinks: false })
  return Option.isSome(theirs)
    ? { key: theirs.value, source: "file" as const }
    : yield* new StartError({ reason: "KeyFileFailed", location: options.file, description: "it disappeared while being read" })
})

/**
 * Removes the key file `resolve` generated, if it still holds `key`: for a
 * start that failed after the key was made, so that a key nobody was shown
 * is not kept.
 *
 * @since 0.1.0
 * @category utils
 */
export const forget = (file: string, key: Redacted.Redacted<string>): Effect.Effect<void> =>
  readKey(file, { followLinks: false }).pipe(
    Effect.flatMap((stored) =>
      Option.isSome(stored) && matches(key, Redacted.value(stored.value))
        ? Effect.tryPromise(() => fsp.unlink(file))
        : Effect.void
    ),
    Effect.ignore
  )
