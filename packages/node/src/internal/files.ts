/**
 * File primitives the file-based token stores share: private directories,
 * permission checks, atomic replacement and errors that name the path and
 * never the content.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import * as TokenStore from "@subauth/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import { basename, dirname, join } from "node:path"

/** Mode bits are meaningless on Windows; there the user profile's ACLs protect the files. */
const checksModes = process.platform !== "win32"

type Reason = TokenStore.TokenStoreError["reason"]

/** A `TokenStoreError` about `location`. */
export const storeError = (
  reason: Reason,
  profile: string,
  location: string,
  description: string,
  cause?: unknown
): TokenStore.TokenStoreError =>
  new TokenStore.TokenStoreError({
    reason,
    profile,
    location,
    description,
    ...(cause !== undefined ? { cause } : {})
  })

const isNotFound = (error: PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"
const isAlreadyExists = (error: PlatformError) => error._tag === "SystemError" && error.reason === "AlreadyExists"

/** What a failed file operation was doing, for the message. */
const failed = (reason: "ReadFailed" | "WriteFailed", profile: string, path: string, doing: string) => (error: PlatformError) =>
  storeError(
    reason,
    profile,
    path,
    `could not ${doing}${error._tag === "SystemError" && error.reason === "PermissionDenied" ? ": permission denied" : ""}`,
    error
  )

/** A path's metadata, or none when nothing is there. */
export const statIfExists = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.stat(path).pipe(Effect.map(Option.some), Effect.catchIf(isNotFound, () => Effect.succeedNone)))

/** Group or world bits set: anyone else on the machine may read (or replace) what is there. */
const exposed = (mode: number) => checksModes && (mode & 0o077) !== 0

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

/**
 * Refuses a file or directory that others may read. The policy is to refuse,
 * not to repair: a loose mode may be somebody's deliberate choice (a shared
 * directory), and changing it behind their back hides that tokens were exposed.
 */
export const requirePrivate = (info: FileSystem.File.Info, profile: string, path: string) => {
  if (!exposed(info.mode)) return Effect.void
  const directory = info.type === "Directory"
  return Effect.fail(storeError(
    "InsecurePermissions",
    profile,
    path,
    `the ${directory ? "directory" : "file"} is accessible to other users (mode ${octal(info.mode)}); ` +
      `make it private with: chmod ${directory ? "700" : "600"} '${path}'`
  ))
}

/**
 * Makes `directory` (mode 0700, parents included) if it is missing. With
 * `private`, an existing directory that others can access is refused.
 */
export const ensureDirectory = Effect.fnUntraced(function*(
  directory: string,
  options: { readonly profile: string; readonly private: boolean }
) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* statIfExists(directory).pipe(
    Effect.mapError(failed("ReadFailed", options.profile, directory, "inspect the token directory"))
  )
  if (Option.isNone(info)) {
    return yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(
      Effect.mapError(failed("WriteFailed", options.profile, directory, "create the token directory"))
    )
  }
  if (info.value.type !== "Directory") {
    return yield* storeError("Unavailable", options.profile, directory, "the token directory's path is not a directory")
  }
  if (options.private) yield* requirePrivate(info.value, options.profile, directory)
})

/** A file's content and metadata, or none when it does not exist. Files others can read are refused. */
export const readPrivate = Effect.fnUntraced(function*(path: string, profile: string) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* statIfExists(path).pipe(Effect.mapError(failed("ReadFailed", profile, path, "inspect the token file")))
  if (Option.isNone(info)) return Option.none<{ readonly text: string; readonly info: FileSystem.File.Info }>()
  yield* requirePrivate(info.value, profile, path)
  return yield* fs.readFileString(path).pipe(
    Effect.map((text) => Option.some({ text, info: info.value })),
    // Removed between stat and read: as good as never there.
    Effect.catchIf(isNotFound, () => Effect.succeedNone),
    Effect.mapError(failed("ReadFailed", profile, path, "read the token file"))
  )
})

/**
 * Puts `content` at `path` atomically: a temporary file in the same directory,
 * created 0600, written and flushed to disk, then moved into place in one step
 * (`replace`: renamed over whatever is there; `create`: hard-linked, which
 * fails if `path` exists), then the directory flushed so the step itself
 * survives a power cut. A reader sees no file, the old content or the new,
 * never a part; a failure leaves what was there untouched. With `create`, false
 * when `path` already existed.
 */
const publish = Effect.fnUntraced(function*(path: string, content: string, mode: "replace" | "create") {
  const fs = yield* FileSystem.FileSystem
  const directory = dirname(path)
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`)
  const written = Effect.scoped(
    Effect.gen(function*() {
      const file = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
      yield* file.writeAll(new TextEncoder().encode(content))
      yield* file.sync
    })
  )
  const placed = yield* (mode === "replace"
    ? written.pipe(Effect.zipRight(fs.rename(temporary, path)), Effect.as(true))
    : written.pipe(
      Effect.zipRight(fs.link(temporary, path)),
      Effect.as(true),
      Effect.catchIf(isAlreadyExists, () => Effect.succeed(false)),
      Effect.ensuring(fs.remove(temporary).pipe(Effect.ignore))
    )).pipe(Effect.onError(() => fs.remove(temporary).pipe(Effect.ignore)))
  yield* syncDirectory(directory)
  return placed
})

/** Replaces `path` atomically with `content` (see `publish`). */
export const writeAtomic = (path: string, content: string, profile: string) =>
  publish(path, content, "replace").pipe(
    Effect.asVoid,
    Effect.mapError(failed("WriteFailed", profile, path, "write the token file"))
  )

/** Creates `path` with `content`, whole, unless it exists (see `publish`); whether it did. */
export const createAtomic = (path: string, content: string, profile: string) =>
  publish(path, content, "create").pipe(Effect.mapError(failed("WriteFailed", profile, path, "create the file")))

// Some filesystems refuse to fsync a directory; the rename has happened by then, so that is not an error.
const syncDirectory = (directory: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (dir) => dir.sync))).pipe(Effect.ignore)

/** Removes `path`; a missing file is not an error. */
export const removeIfExists = (path: string, profile: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.remove(path).pipe(
      Effect.catchIf(isNotFound, () => Effect.void),
      Effect.mapError(failed("WriteFailed", profile, path, "remove the token file"))
    ))

/** Creates `path` with `content` only if it does not exist yet; false if it did. */
export const createExclusive = (path: string, content: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.writeFileString(path, content, { flag: "wx", mode: 0o600 }).pipe(
      Effect.as(true),
      Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
    ))

export { isAlreadyExists, isNotFound }

/**
 * JSON text as a value, or none when it is not JSON. Every place in this
 * package that reads JSON text goes through this (Effect's `Schema.parseJson`),
 * not a `JSON.parse` in a `try`.
 */
export const parseJson: (text: string) => Option.Option<unknown> = Schema.decodeOption(Schema.parseJson())

/**
 * Decodes JSON text with `schema`. A failure is `Corrupt` and says where the
 * problem is, never what the text holds (parser messages quote the input,
 * which here is tokens).
 */
export const decodeJson = <A, I>(
  schema: Schema.Schema<A, I>,
  text: string,
  profile: string,
  location: string,
  what = `the token file '${basename(location)}'`
) => {
  const json = parseJson(text)
  if (Option.isNone(json)) {
    return Effect.fail(storeError("Corrupt", profile, location, `${what} is not valid JSON; it was left as it is`))
  }
  return Schema.decodeUnknown(schema)(json.value).pipe(
    Effect.mapError((error) =>
      storeError("Corrupt", profile, location, `${what} does not hold a token set (${where(error)}); it was left as it is`)
    )
  )
}

/** The paths of a parse error's issues, without the values that caused them. */
export const where = (error: ParseResult.ParseError): string => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? "the top level" : `"${issue.path.map(String).join(".")}"`
  )
  return `problem at ${[...new Set(paths)].slice(0, 3).join(", ")}`
}
