/**
 * The contract every `TokenStore` implementation must meet, as a vitest suite.
 * Run it once per implementation:
 *
 * ```ts
 * import { TokenStore } from "@subauth/core"
 * import { TokenStoreSuite } from "@subauth/testing"
 *
 * TokenStoreSuite.run("memory", TokenStore.layerMemory)
 * ```
 *
 * The layer is built afresh for every test, so each starts from an empty store
 * when the layer creates one. Tests run on the live clock: stores do real I/O.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@subauth/core"
import { DateTime, Effect, Exit, Fiber, type Layer, Option, Redacted, Schema } from "effect"

const encode = Schema.encodeSync(TokenSet.TokenSet)

/**
 * Token sets covering the shapes a store must keep intact.
 *
 * @since 0.1.0
 * @category constants
 */
export const samples = {
  full: new TokenSet.TokenSet({
    accessToken: Redacted.make("at-full-eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig"),
    refreshToken: Option.some(Redacted.make("rt_FAKE_suite_full_0001")),
    idToken: Option.some(Redacted.make("id-eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImEifQ.sig")),
    expiresAt: DateTime.unsafeMake(1_795_346_911_123),
    obtainedAt: DateTime.unsafeMake(1_795_343_311_456),
    accountId: Option.some("11111111-2222-4333-8444-555555555555"),
    planType: Option.some("pro"),
    email: Option.some("zoë.ñandú@example.com"),
    userId: Option.some("user-FAKE")
  }),
  minimal: new TokenSet.TokenSet({
    accessToken: Redacted.make("at-minimal"),
    refreshToken: Option.none(),
    idToken: Option.none(),
    expiresAt: DateTime.unsafeMake(1000),
    obtainedAt: DateTime.unsafeMake(0),
    accountId: Option.none(),
    planType: Option.none(),
    email: Option.none(),
    userId: Option.none()
  }),
  large: new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-large-${"A".repeat(6000)}`),
    refreshToken: Option.some(Redacted.make(`rt-large-${"B".repeat(2000)}`)),
    idToken: Option.some(Redacted.make(`id-large-${"C".repeat(4000)}`)),
    expiresAt: DateTime.unsafeMake(1_900_000_000_000),
    obtainedAt: DateTime.unsafeMake(1_899_999_000_000),
    accountId: Option.some("acct"),
    planType: Option.none(),
    email: Option.none(),
    userId: Option.none()
  })
}

const generation = (n: number) =>
  new TokenSet.TokenSet({ ...samples.full, refreshToken: Option.some(Redacted.make(`rt_FAKE_suite_gen_${n}`)) })

/**
 * Registers the contract tests for the store `layer` provides.
 *
 * @since 0.1.0
 * @category utils
 */
export const run = <E>(name: string, layer: Layer.Layer<TokenStore.TokenStore, E>): void => {
  const test = <A, E2>(title: string, body: (store: TokenStore.TokenStore.Service) => Effect.Effect<A, E2>) =>
    it.live(title, () => Effect.flatMap(TokenStore.TokenStore, body).pipe(Effect.provide(layer)))

  describe(`TokenStore contract: ${name}`, () => {
    test("an unknown profile has no tokens", (store) =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* store.get("nobody")))
      }))

    for (const [kind, tokens] of Object.entries(samples)) {
      test(`keeps a ${kind} token set intact`, (store) =>
        Effect.gen(function*() {
          yield* store.set("default", tokens)
          const read = yield* store.get("default")
          assert.isTrue(Option.isSome(read))
          assert.deepStrictEqual(encode(Option.getOrThrow(read)), encode(tokens))
        }))
    }

    test("a write replaces the previous tokens", (store) =>
      Effect.gen(function*() {
        yield* store.set("default", generation(1))
        yield* store.set("default", generation(2))
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("default"))), encode(generation(2)))
      }))

    test("profiles are independent", (store) =>
      Effect.gen(function*() {
        yield* store.set("work", generation(1))
        yield* store.set("home.2", generation(2))
        yield* store.remove("work")
        assert.isTrue(Option.isNone(yield* store.get("work")))
        assert.deepStrictEqual(encode(Option.getOrThrow(yield* store.get("home.2"))), encode(generation(2)))
      }))

    test("remove is idempotent", (store) =>
      Effect.gen(function*() {
        yield* store.remove("ghost")
        yield* store.set("ghost", samples.minimal)
        yield* store.remove("ghost")
        yield* store.remove("ghost")
        assert.isTrue(Option.isNone(yield* store.get("ghost")))
      }))

    test("invalid profile names are refused by every operation, and nothing is written", (store) =>
      Effect.gen(function*() {
        const invalid = ["", ".", "..", "../x", "a/b", "a\\b", "-flag", ".hidden", "a..b", "x".repeat(65), "nul\u0000", "sp ace"]
        for (const profile of invalid) {
          for (
            const op of [
              store.get(profile),
              store.set(profile, samples.full),
              store.remove(profile),
              store.withLock(profile, Effect.void)
            ] as const
          ) {
            const exit = yield* Effect.exit(op as Effect.Effect<unknown, TokenStore.TokenStoreError>)
            assert.isTrue(Exit.isFailure(exit), `expected ${JSON.stringify(profile)} to be refused`)
            if (Exit.isFailure(exit)) {
              const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
              assert.strictEqual(error?.reason, "InvalidProfile")
            }
          }
        }
        assert.isTrue(Option.isNone(yield* store.get("x")))
      }))

    test("withLock returns the result, passes failures through and is released after them", (store) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* store.withLock("default", Effect.succeed(42)), 42)
        const failed = yield* Effect.exit(store.withLock("default", Effect.fail("boom" as const)))
        assert.deepStrictEqual(failed, Exit.fail("boom"))
        const interrupted = yield* Effect.fork(store.withLock("default", Effect.never))
        yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(interrupted)
        assert.strictEqual(yield* store.withLock("default", Effect.succeed("again")), "again")
      }))

    test("withLock excludes other holders of the same profile's lock", (store) =>
      Effect.gen(function*() {
        let inside = 0
        let most = 0
        const critical = (i: number) =>
          store.withLock(
            "default",
            Effect.gen(function*() {
              inside += 1
              most = Math.max(most, inside)
              const read = yield* store.get("default")
              yield* Effect.sleep("2 millis")
              yield* store.set("default", generation(i))
              inside -= 1
              return read
            })
          )
        yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), critical, { concurrency: "unbounded" })
        assert.strictEqual(most, 1)
      }))

    test("concurrent writes leave one whole token set", (store) =>
      Effect.gen(function*() {
        const written = Array.from({ length: 16 }, (_, i) => generation(i))
        yield* Effect.forEach(written, (t) => store.set("default", t), { concurrency: "unbounded" })
        const read = encode(Option.getOrThrow(yield* store.get("default")))
        assert.isTrue(written.some((t) => JSON.stringify(encode(t)) === JSON.stringify(read)))
      }))
  })
}
