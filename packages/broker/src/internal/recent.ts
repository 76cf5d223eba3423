/**
 * What a credential lookup found lately, for a short while, by the
 * credential's hash: most requests then need no database round trip. Bounded
 * (the oldest entry leaves first); entries end by time, or at once through
 * `forget` (a key revoked in this process).
 */
export interface Recent<V> {
  readonly get: (hash: string, now: number) => V | undefined
  readonly set: (hash: string, value: V, until: number) => void
  readonly forget: (matches: (value: V) => boolean) => void
}

export const makeRecent = <V>(maxEntries: number): Recent<V> => {
  const entries = new Map<string, { readonly value: V; readonly until: number }>()
  return {
    get: (hash, now) => {
      const hit = entries.get(hash)
      if (hit === undefined) return undefined
      if (now < hit.until) return hit.value
      entries.delete(hash)
      return undefined
    },
    set: (hash, value, until) => {
      entries.delete(hash)
      entries.set(hash, { value, until })
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
    },
    forget: (matches) => {
      for (const [hash, entry] of entries) if (matches(entry.value)) entries.delete(hash)
    }
  }
}
