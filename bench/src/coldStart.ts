/**
 * The CLI's cold start, next to the floor of any Effect program, measured in
 * the same run: `effect` alone, bundled the same way (esbuild, one CommonJS
 * file), printing one line. Target: `subauth status` and `subauth token` (a
 * valid token, no refresh) at most 1.5× that floor. Starts are interleaved,
 * median of many. The binary is the built one (bin/subauth.js, which runs
 * dist/subauth-fast.cjs for these two); its V8 code cache is made by a first
 * start, reported separately. The store is the default, `auto`, on a login
 * without a D-Bus session bus (as on the server the target was set on): the
 * keychain is known to be unavailable and the tokens are files. `node -e 0` is
 * reported for scale.
 */
import * as Consent from "@subauth/core/Consent"
import * as TokenSet from "@subauth/core/TokenSet"
import * as NodeTokenStore from "@subauth/node/NodeTokenStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { build } from "esbuild"
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { median, write } from "./results.js"

const RUNS = 41
const TARGET = 1.5
const bin = fileURLToPath(new URL("../../packages/cli/bin/subauth.js", import.meta.url))

const time = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, expectedCode = 0) => {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, [...args], { env, stdio: "ignore" })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== expectedCode) throw new Error(`${args.join(" ")} exited with ${result.status ?? result.signal}`)
  return ms
}

/** A signed-in profile, as `subauth login` leaves it: a token set valid for a day, and the consent record. */
const signIn = (home: string) =>
  Effect.gen(function*() {
    const now = DateTime.unsafeMake(Date.now())
    const store = yield* NodeTokenStore.makeFile(home)
    yield* store.set("default", new TokenSet.TokenSet({
      accessToken: Redacted.make(`eyJhbGciOiJSUzI1NiJ9.${"a".repeat(600)}.${"b".repeat(340)}`),
      refreshToken: Option.some(Redacted.make("rt_bench")),
      idToken: Option.none(),
      expiresAt: DateTime.add(now, { days: 1 }),
      obtainedAt: now,
      accountId: Option.some("acc_bench"),
      planType: Option.some("plus"),
      email: Option.some("bench@example.com"),
      userId: Option.some("user_bench"),
      claimsVerified: true
    }))
    const record = new Consent.ConsentRecord({
      profile: "default",
      version: Consent.VERSION,
      textSha256: yield* Consent.textSha256,
      acceptedAt: now,
      how: "prompt"
    })
    mkdirSync(join(home, "consent"), { mode: 0o700 })
    // As Consent stores it: `KeyValueStore.forSchema(Schema.parseJson(ConsentRecord))`, which adds a parseJson of its own.
    const text = yield* Schema.encode(Schema.parseJson(Schema.parseJson(Consent.ConsentRecord)))(record)
    writeFileSync(join(home, "consent", "consent-default"), text, { mode: 0o600 })
  }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)

export const run = async () => {
  const root = mkdtempSync(join(tmpdir(), "subauth-cold-"))
  try {
    const home = join(root, "subauth")
    // No DBUS_SESSION_BUS_ADDRESS, no XDG_RUNTIME_DIR: a login without a session bus.
    const env = { PATH: process.env.PATH, HOME: root, XDG_CACHE_HOME: join(root, "cache"), SUBAUTH_HOME: home }
    await Effect.runPromise(signIn(home))
    const status = [bin, "status"]
    const token = [bin, "token"]
    const firstStart = time(status, env) // compiles, and writes the code cache
    time(token, env)
    const floorSource = join(root, "floor.mjs")
    writeFileSync(floorSource, `import { Console, Effect } from "effect"\nEffect.runFork(Console.log("not signed in"))\n`)
    const floor = join(root, "floor.cjs")
    await build({ entryPoints: [floorSource], outfile: floor, bundle: true, platform: "node", format: "cjs", minify: true, nodePaths: [fileURLToPath(new URL("../../node_modules", import.meta.url))], logLevel: "error" })
    const times = { node: [] as Array<number>, effect: [] as Array<number>, status: [] as Array<number>, token: [] as Array<number> }
    for (let i = 0; i < RUNS; i++) {
      times.node.push(time(["-e", "0"], env))
      times.effect.push(time([floor], env))
      times.status.push(time(status, env))
      times.token.push(time(token, env))
    }
    const ms = (xs: ReadonlyArray<number>) => Number(median(xs).toFixed(1))
    const floorMs = median(times.effect)
    const statusRatio = median(times.status) / floorMs
    const tokenRatio = median(times.token) / floorMs
    const result = {
      runs: RUNS,
      store: "auto (no session bus: files)",
      nodeMs: ms(times.node),
      effectAloneMs: ms(times.effect),
      statusMs: ms(times.status),
      tokenMs: ms(times.token),
      statusFirstStartMs: Number(firstStart.toFixed(1)),
      statusRatio: Number(statusRatio.toFixed(2)),
      tokenRatio: Number(tokenRatio.toFixed(2)),
      target: `statusMs and tokenMs <= ${TARGET} × effectAloneMs`,
      meetsTarget: statusRatio <= TARGET && tokenRatio <= TARGET
    }
    write("cold-start", result)
    return result
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
