/**
 * What the proxy answered, kept for a while, so that clients that refer to
 * earlier output by id keep their conversation: the ChatGPT Codex backend
 * runs with `store: false` and resolves no reference itself.
 *
 * - Output items by id, with their `encrypted_content` (the Vercel AI SDK's
 *   Responses provider sends earlier assistant messages and reasoning as
 *   `{"type": "item_reference", "id": …}` by default).
 * - Responses by id (input, output and the response they continued), for
 *   `previous_response_id`.
 *
 * Everything belongs to an owner (the serve key's profile for `subauth
 * serve`; a user or session wherever the proxy is mounted for several), and
 * an owner sees only its own. Bounded: by size (in all, and per owner) and by
 * age, oldest first; entries are kept as JSON text, so the size counted is
 * the memory held. Model output is the user's data: it is never logged.
 *
 * @since 0.1.0
 */
import type { CodexWire } from "@subauth/core"
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_AGE: Duration.Duration = Duration.hours(24)

/**
 * A response as the proxy answered it: what it was asked (the new input
 * only), what it answered, and the response it continued.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredResponse {
  readonly id: string
  readonly previousResponseId: string | undefined
  readonly input: ReadonlyArray<CodexWire.Item>
  readonly output: ReadonlyArray<CodexWire.Item>
}

/**
 * How much is kept.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly entries: number
  /** Characters of JSON text kept (at most two bytes each). */
  readonly bytes: number
  readonly owners: number
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace ItemStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Keeps the items that have an `id` as `owner`'s. */
    readonly remember: (owner: string, items: ReadonlyArray<CodexWire.Item>) => Effect.Effect<void>
    /** The item `owner` was given with this id, while it is kept. */
    readonly lookup: (owner: string, id: string) => Effect.Effect<Option.Option<CodexWire.Item>>
    /** Keeps a response as `owner`'s (its output items are kept by {@link remember}, as they come). */
    readonly rememberResponse: (owner: string, response: StoredResponse) => Effect.Effect<void>
    /** The response `owner` was given with this id, while it is kept. */
    readonly lookupResponse: (owner: string, id: string) => Effect.Effect<Option.Option<StoredResponse>>
    readonly stats: Effect.Effect<Stats>
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ItemStore extends Context.Tag("@subauth/server/ItemStore")<ItemStore, ItemStore.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** All owners together. Default {@link DEFAULT_MAX_BYTES}. */
  readonly maxBytes?: number
  /** One owner; default `maxBytes` (a store shared by many owners should set less, so none crowds out the others). */
  readonly maxBytesPerOwner?: number
  /** Default {@link DEFAULT_MAX_AGE}. */
  readonly maxAge?: Duration.DurationInput
}

interface Entry {
  readonly owner: string
  readonly key: string
  readonly json: string
  readonly at: number
}

interface Owner {
  readonly entries: Map<string, Entry>
  bytes: number
}

const itemKey = (id: string) => `i:${id}`
const responseKey = (id: string) => `r:${id}`

const positive = (name: string, n: number) => {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`ItemStore: "${name}" must be a positive number, got ${n}`)
  return n
}

/**
 * A store in memory. Insertion order is age order (an entry kept again moves
 * to the end), so eviction takes the oldest from the front of a `Map`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: Options = {}): ItemStore.Service => {
  const maxBytes = positive("maxBytes", options.maxBytes ?? DEFAULT_MAX_BYTES)
  const maxPerOwner = Math.min(maxBytes, positive("maxBytesPerOwner", options.maxBytesPerOwner ?? maxBytes))
  const maxAge = Duration.toMillis(options.maxAge ?? DEFAULT_MAX_AGE)
  positive("maxAge", maxAge)
  const all = new Map<string, Entry>()
  const owners = new Map<string, Owner>()
  let bytes = 0

  const globalKey = (owner: string, key: string) => `${owner.length}:${owner}${key}`

  const remove = (entry: Entry) => {
    all.delete(globalKey(entry.owner, entry.key))
    bytes -= entry.json.length
    const o = owners.get(entry.owner)
    if (o === undefined) return
    o.entries.delete(entry.key)
    o.bytes -= entry.json.length
    if (o.entries.size === 0) owners.delete(entry.owner)
  }

  const expire = (now: number) => {
    for (const entry of all.values()) {
      if (now - entry.at < maxAge) break
      remove(entry)
    }
  }

  const put = (owner: string, key: string, json: string, now: number) => {
    // Larger than an owner may keep: not kept at all (a reference to it is answered as unknown).
    if (json.length > maxPerOwner) return
    const existing = owners.get(owner)?.entries.get(key)
    if (existing !== undefined) remove(existing)
    const o = owners.get(owner) ?? { entries: new Map<string, Entry>(), bytes: 0 }
    owners.set(owner, o)
    const entry: Entry = { owner, key, json, at: now }
    o.entries.set(key, entry)
    o.bytes += json.length
    all.set(globalKey(owner, key), entry)
    bytes += json.length
    while (o.bytes > maxPerOwner) remove(o.entries.values().next().value!)
    while (bytes > maxBytes) remove(all.values().next().value!)
  }

  const get = (owner: string, key: string, now: number): string | undefined => {
    expire(now)
    return owners.get(owner)?.entries.get(key)?.json
  }

  const rememberItems = (owner: string, items: ReadonlyArray<CodexWire.Item>, now: number) => {
    for (const item of items) {
      if (typeof item.id === "string" && item.id !== "") put(owner, itemKey(item.id), JSON.stringify(item), now)
    }
  }

  return {
    remember: (owner, items) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        expire(now)
        rememberItems(owner, items, now)
      }),
    lookup: (owner, id) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        Option.map(Option.fromNullable(get(owner, itemKey(id), now)), (json) => JSON.parse(json) as CodexWire.Item)),
    rememberResponse: (owner, response) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        expire(now)
        put(owner, responseKey(response.id), JSON.stringify(response), now)
      }),
    lookupResponse: (owner, id) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        Option.map(Option.fromNullable(get(owner, responseKey(id), now)), (json) => {
          const parsed = JSON.parse(json) as Omit<StoredResponse, "previousResponseId"> & { previousResponseId?: string }
          return { ...parsed, previousResponseId: parsed.previousResponseId }
        })),
    stats: Effect.map(Clock.currentTimeMillis, (now) => {
      expire(now)
      return { entries: all.size, bytes, owners: owners.size }
    })
  }
}

/**
 * A store in memory for the life of the layer (what `subauth serve` uses).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options = {}): Layer.Layer<ItemStore> =>
  Layer.sync(ItemStore, () => makeMemory(options))
