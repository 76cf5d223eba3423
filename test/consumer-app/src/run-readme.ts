/**
 * Starts the fake issuer and the fake backend of @subauth/testing, signs a user in to a file store, makes the
 * backend refuse that access token (so the program has to refresh it at the issuer it was given), and runs the
 * README's program (main.js) in a child process whose environment points at the fakes.
 */
import { NodeRuntime } from "@effect/platform-node"
import { TokenStore } from "@subauth/core"
import { NodeTokenStore } from "@subauth/node"
import { FakeCodexBackend, FakeOAuthServer } from "@subauth/testing"
import { Effect, Layer, Redacted } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const ANSWER = "PKCE binds the code to the client that asked for it."

const home = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "subauth-consumer-home-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const runMain = (env: Record<string, string>) =>
  Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    execFile(process.execPath, [fileURLToPath(new URL("main.js", import.meta.url))], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
    })
  })

const program = Effect.gen(function* () {
  const oauth = yield* FakeOAuthServer.FakeOAuthServer
  const backend = yield* FakeCodexBackend.FakeCodexBackend
  const dir = yield* home
  const tokens = yield* oauth.issueTokens()
  yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("default", tokens)).pipe(
    Effect.provide(NodeTokenStore.layerFile(dir))
  )
  yield* backend.rejectAccessToken(Redacted.value(tokens.accessToken))
  const child = yield* runMain({
    SUBAUTH_ISSUER: oauth.url,
    SUBAUTH_CODEX_URL: backend.baseUrl,
    SUBAUTH_ALLOW_INSECURE_HTTP: "1",
    SUBAUTH_STORE: "file",
    SUBAUTH_HOME: dir
  })
  process.stderr.write(child.stderr)
  // The answer is the last line: Effect's default logger writes the library's info lines to stdout before it.
  const answer = child.stdout.trim().split("\n").at(-1)
  const issuer = (yield* oauth.requests).map((r) => r.endpoint).join(",")
  const responses = (yield* backend.requests).length
  console.log(JSON.stringify({ code: child.code, answer, issuer, responses }))
  if (child.code !== 0 || answer !== ANSWER) return yield* Effect.dieMessage("the README's program did not answer")
})

program.pipe(
  Effect.scoped,
  Effect.provide(
    FakeCodexBackend.layer({ respond: () => ({ items: [FakeCodexBackend.message(ANSWER)] }) }).pipe(
      Layer.provideMerge(FakeOAuthServer.layer())
    )
  ),
  NodeRuntime.runMain
)
