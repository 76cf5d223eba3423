/**
 * The Codex store: tokens in the Codex CLI's own `auth.json`, read and written
 * in its format (`codexAuth.ts`), so one sign-in serves both `codex` and
 * subauth. Profile `"default"` is `codexHome/auth.json`; another profile `p`
 * is `codexHome/subauth-profiles/p/auth.json`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as TokenStore from "@subauth/core/TokenStore"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { join } from "node:path"
import type { FileOptions } from "../NodeTokenStore.js"
import * as CodexAuth from "./codexAuth.js"
import * as Files from "./files.js"
import { type Built, codexHomeOf as homeOf, makeLocking } from "./storeBase.js"

/** A store in the Codex CLI's `auth.json` format. */
export const make = (codexHome: string, options: FileOptions): Built =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const pathOf = (profile: string) => join(homeOf(codexHome, profile), "auth.json")
    const provided = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) =>
      Effect.provideService(effect, FileSystem.FileSystem, fs)
    const home = (profile: string) =>
      // The CLI makes its home world-readable; only auth.json itself must be private.
      Files.ensureDirectory(homeOf(codexHome, profile), { profile, private: false })
    // The previous file as JSON (to keep what it holds), or none.
    const previous = (profile: string) =>
      Effect.flatMap(Files.readPrivate(pathOf(profile), profile), (file) =>
        Option.isNone(file)
          ? Effect.succeedNone
          : Option.match(Files.parseJson(file.value.text), {
            onNone: () =>
              Effect.fail(Files.storeError(
                "Corrupt",
                profile,
                pathOf(profile),
                "auth.json is not valid JSON; it was left as it is (fix or remove it, then sign in again)"
              )),
            onSome: (json) => Effect.succeedSome(json)
          }))
    const locking = yield* makeLocking(fs, (profile) => `${pathOf(profile)}.subauth.lock`, options.lock)
    return TokenStore.make({
      get: (profile) =>
        provided(
          Effect.flatMap(Files.readPrivate(pathOf(profile), profile), (file) => {
            if (Option.isNone(file)) return Effect.succeedNone
            const mtime = Option.getOrElse(file.value.info.mtime, () => new Date(0))
            return CodexAuth.decode(file.value.text, DateTime.unsafeMake(mtime), profile, pathOf(profile))
          })
        ),
      set: (profile, tokens) =>
        provided(Effect.gen(function*() {
          yield* home(profile)
          const before = yield* previous(profile)
          yield* Files.writeAtomic(pathOf(profile), CodexAuth.encode(tokens, Option.getOrUndefined(before)), profile)
        })),
      remove: (profile) =>
        provided(Effect.gen(function*() {
          const before = yield* previous(profile)
          if (Option.isNone(before)) return
          const rest = CodexAuth.withoutSignIn(before.value)
          yield* Option.isSome(rest)
            ? Files.writeAtomic(pathOf(profile), rest.value, profile)
            : Files.removeIfExists(pathOf(profile), profile)
        })),
      withLock: (profile, effect) => Effect.zipRight(provided(home(profile)), locking(profile, effect))
    })
  })
