import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, TestClock } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as ItemStore from "../src/ItemStore.js"

const reasoning = (id: string, size: number) => ({
  id,
  type: "reasoning",
  summary: [{ type: "summary_text", text: "thinking" }],
  encrypted_content: `gAAAAB${"e".repeat(size)}`
})
const message = (id: string, text: string) => ({
  id,
  type: "message",
  role: "assistant",
  content: [{ type: "output_text", text }]
})

describe("ItemStore.makeMemory", () => {
  it.effect("keeps items by id, with their encrypted_content, for their owner only", () =>
    Effect.gen(function*() {
      const store = ItemStore.makeMemory()
      yield* store.remember("alice", [reasoning("rs_1", 10), message("msg_1", "hi"), { type: "message", role: "user", content: [] }])
      assert.deepStrictEqual(yield* store.lookup("alice", "rs_1"), Option.some(reasoning("rs_1", 10)))
      assert.deepStrictEqual(yield* store.lookup("alice", "msg_1"), Option.some(message("msg_1", "hi")))
      assert.isTrue(Option.isNone(yield* store.lookup("bob", "msg_1")))
      assert.strictEqual((yield* store.stats).entries, 2, "an item without an id is not kept")
      const response = { id: "resp_1", previousResponseId: undefined, input: [], output: [message("msg_1", "hi")] }
      yield* store.rememberResponse("alice", response)
      assert.deepStrictEqual(yield* store.lookupResponse("alice", "resp_1"), Option.some(response))
      assert.isTrue(Option.isNone(yield* store.lookupResponse("bob", "resp_1")))
    }))

  it.effect("evicts by age: kept until maxAge has passed, gone from then on", () =>
    Effect.gen(function*() {
      const store = ItemStore.makeMemory({ maxAge: "1 hour" })
      yield* store.remember("alice", [message("msg_1", "old")])
      yield* TestClock.adjust(Duration.minutes(30))
      yield* store.remember("alice", [message("msg_2", "newer")])
      yield* TestClock.adjust(Duration.minutes(29))
      assert.isTrue(Option.isSome(yield* store.lookup("alice", "msg_1")))
      yield* TestClock.adjust(Duration.minutes(1))
      assert.isTrue(Option.isNone(yield* store.lookup("alice", "msg_1")))
      assert.isTrue(Option.isSome(yield* store.lookup("alice", "msg_2")))
      yield* TestClock.adjust(Duration.minutes(30))
      assert.deepStrictEqual(yield* store.stats, { entries: 0, bytes: 0, owners: 0 })
    }))

  it.effect("evicts by size, oldest first; one owner never crowds out another beyond its own budget", () =>
    Effect.gen(function*() {
      const store = ItemStore.makeMemory({ maxBytes: 10_000, maxBytesPerOwner: 5_000 })
      yield* store.remember("bob", [reasoning("rs_bob", 1000)])
      for (let i = 0; i < 100; i++) yield* store.remember("alice", [reasoning(`rs_${i}`, 1000)])
      const stats = yield* store.stats
      assert.isAtMost(stats.bytes, 10_000)
      assert.isTrue(Option.isSome(yield* store.lookup("bob", "rs_bob")))
      assert.isTrue(Option.isSome(yield* store.lookup("alice", "rs_99")))
      assert.isTrue(Option.isNone(yield* store.lookup("alice", "rs_0")))
      // An item larger than an owner's budget is not kept at all.
      yield* store.remember("bob", [reasoning("rs_huge", 6_000)])
      assert.isTrue(Option.isNone(yield* store.lookup("bob", "rs_huge")))
      // Kept again, an item counts once.
      const before = (yield* store.stats).bytes
      yield* store.remember("alice", [reasoning("rs_99", 1000)])
      assert.strictEqual((yield* store.stats).bytes, before)
    }))

  it("refuses bounds that are not positive numbers", () => {
    assert.throws(() => ItemStore.makeMemory({ maxBytes: 0 }), /maxBytes/)
    assert.throws(() => ItemStore.makeMemory({ maxBytesPerOwner: Number.NaN }), /maxBytesPerOwner/)
    assert.throws(() => ItemStore.makeMemory({ maxAge: Duration.zero }), /maxAge/)
  })
})

// A full collection before each measurement: `gc` made callable for this test only.
const collectGarbage = (): void => {
  setFlagsFromString("--expose-gc")
  ;(runInNewContext("gc") as () => void)()
}

describe("ItemStore memory", () => {
  it.live("stays bounded over 10,000 turns of a long conversation", () =>
    Effect.gen(function*() {
      const maxBytes = 2 * 1024 * 1024
      const store = ItemStore.makeMemory({ maxBytes })
      collectGarbage()
      const before = process.memoryUsage().heapUsed
      let previous: string | undefined
      for (let turn = 0; turn < 10_000; turn++) {
        // About 10 KB a turn: 100 MB kept if nothing were evicted.
        const output = [reasoning(`rs_${turn}`, 6_000), message(`msg_${turn}`, `answer ${turn} `.repeat(100))]
        yield* store.remember("default", output)
        const id = `resp_${turn}`
        yield* store.rememberResponse("default", {
          id,
          previousResponseId: previous,
          input: [{ type: "message", role: "user", content: [{ type: "input_text", text: `question ${turn}` }] }],
          output
        })
        previous = id
        if (turn % 1_000 === 999) assert.isAtMost((yield* store.stats).bytes, maxBytes)
      }
      const stats = yield* store.stats
      assert.isAtMost(stats.bytes, maxBytes)
      assert.isAtMost(stats.entries, 1_000)
      assert.isTrue(Option.isSome(yield* store.lookup("default", "msg_9999")))
      assert.isTrue(Option.isNone(yield* store.lookup("default", "msg_0")))
      collectGarbage()
      const grown = process.memoryUsage().heapUsed - before
      // What is kept is at most 2 MiB of text; a wide margin for everything else the test allocates.
      assert.isBelow(grown, 32 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1024 / 1024)} MiB`)
    }))
})
