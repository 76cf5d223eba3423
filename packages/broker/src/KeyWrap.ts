/**
 * Wrapping and unwrapping tenants' data keys with a master key: the one step
 * of the envelope encryption that a cloud KMS would take over. The local
 * implementation here uses AES-256-GCM with master keys from {@link MasterKey};
 * a KMS implementation is one more layer providing the same Tag, and nothing
 * else in the broker changes.
 *
 * A wrapped key is stored as `<key id>.<sealed>`: the id says which master key
 * to unwrap it with, so several keys can be in use during a rotation.
 *
 * @since 0.1.0
 */
import { Context, Effect, Either, Layer, Redacted } from "effect"
import { VaultError } from "./BrokerError.js"
import { aadOf, open, seal } from "./internal/aead.js"
import * as MasterKey from "./MasterKey.js"

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace KeyWrap {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The id of the key that wraps new data keys now. */
    readonly currentKeyId: Effect.Effect<string, VaultError>
    /** Every key id that can unwrap, current first. */
    readonly keyIds: Effect.Effect<ReadonlyArray<string>, VaultError>
    /** Wraps `dataKey` for `context` (the tenant): only the same context unwraps it. */
    readonly wrap: (dataKey: Redacted.Redacted<Uint8Array>, context: string) => Effect.Effect<string, VaultError>
    readonly unwrap: (wrapped: string, context: string) => Effect.Effect<Redacted.Redacted<Uint8Array>, VaultError>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class KeyWrap extends Context.Tag("@subauth/broker/KeyWrap")<KeyWrap, KeyWrap.Service>() {}

/**
 * The key id of a wrapped key, without unwrapping it.
 *
 * @since 0.1.0
 * @category utils
 */
export const keyIdOf = (wrapped: string): string => wrapped.slice(0, Math.max(0, wrapped.indexOf(".")))

const aad = (context: string) => aadOf("subauth-broker/data-key/v1", context)

/**
 * Local wrapping with the master keys `load` gives. When a wrapped key names a
 * key that is not loaded, `load` runs once more (a key file may have gained a
 * key from a rotation another process ran) before giving up.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLocal = (load: Effect.Effect<MasterKey.MasterKeys, VaultError>): Effect.Effect<KeyWrap.Service, VaultError> =>
  Effect.gen(function*() {
    const index = (keys: MasterKey.MasterKeys) =>
      new Map([keys.current, ...keys.previous].map((key) => [MasterKey.idOf(key), key] as const))
    let keys = yield* load
    let byId = index(keys)
    const reload = Effect.tap(load, (loaded) =>
      Effect.sync(() => {
        keys = loaded
        byId = index(loaded)
      }))

    const keyFor = (id: string): Effect.Effect<Redacted.Redacted<Uint8Array>, VaultError> =>
      Effect.suspend(() => {
        const known = byId.get(id)
        if (known !== undefined) return Effect.succeed(known)
        return Effect.flatMap(Effect.orElseSucceed(reload, () => keys), () => {
          const found = byId.get(id)
          return found !== undefined
            ? Effect.succeed(found)
            : Effect.fail(
              new VaultError({
                reason: "UnknownMasterKey",
                description: `a data key is wrapped by master key ${JSON.stringify(id)}, which is not configured ` +
                  `(configured: ${[...byId.keys()].join(", ")}); configure that key (SUBAUTH_BROKER_MASTER_KEY or the key file)`
              })
            )
        })
      })

    return {
      currentKeyId: Effect.sync(() => MasterKey.idOf(keys.current)),
      keyIds: Effect.sync(() => [...byId.keys()]),
      wrap: (dataKey, context) =>
        Effect.sync(() => `${MasterKey.idOf(keys.current)}.${seal(Redacted.value(keys.current), aad(context), Redacted.value(dataKey))}`),
      unwrap: (wrapped, context) =>
        Effect.gen(function*() {
          const dot = wrapped.indexOf(".")
          if (dot <= 0) return yield* new VaultError({ reason: "Malformed", description: "a stored data key is not a wrapped key" })
          const id = wrapped.slice(0, dot)
          const key = yield* keyFor(id)
          const opened = open(Redacted.value(key), aad(context), wrapped.slice(dot + 1))
          if (Either.isLeft(opened)) {
            return yield* new VaultError({
              reason: opened.left === "Malformed" ? "Malformed" : "WrongMasterKey",
              description: opened.left === "Malformed"
                ? "a stored data key is not a wrapped key"
                : `a data key does not unwrap with master key ${JSON.stringify(id)}: it was altered, or belongs to another tenant`
            })
          }
          return Redacted.make(opened.right)
        })
    }
  })

/**
 * Local wrapping with fixed keys.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocal = (keys: MasterKey.MasterKeys): Layer.Layer<KeyWrap, VaultError> =>
  Layer.effect(KeyWrap, makeLocal(Effect.succeed(keys)))

/**
 * Local wrapping with the keys of a key file, read again when a key it does
 * not know is asked for.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (path: string): Layer.Layer<KeyWrap, VaultError> => Layer.effect(KeyWrap, makeLocal(MasterKey.readFile(path)))
