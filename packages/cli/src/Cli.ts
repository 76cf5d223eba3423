/**
 * The `subauth` command tree. Command modules load lazily, so `subauth status`
 * does not load what `login` or `ask` need.
 *
 * @since 0.1.0
 */
import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import type { CliApp } from "@effect/cli"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { ExitCode, reportFailure } from "./internal/errors.js"
import type { ReadLine } from "./internal/terminalUi.js"
import { Output } from "./Output.js"
import { Settings } from "./Settings.js"
import * as Shared from "./commands/shared.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

const EXIT_CODES = "Exit codes: 0 ok · 1 failure · 2 usage error · 3 sign-in required · 4 usage limit reached · 130 cancelled (Ctrl-C)."

const describe = (summary: string, examples: ReadonlyArray<string>) =>
  HelpDoc.blocks([
    HelpDoc.p(summary),
    HelpDoc.p(`Examples:\n${examples.map((e) => `  $ ${e}`).join("\n")}`),
    HelpDoc.p(EXIT_CODES)
  ])

// The environment each command runs in; `bin.ts` and the tests provide it.
type Env = Settings | Output | CliApp.CliApp.Environment

/** What the person types: a line at a prompt (consent, paste), or all of stdin when it is piped. */
class Reader extends Context.Tag("@subauth/cli/Reader")<Reader, {
  readonly readLine: ReadLine
  readonly readAll: Effect.Effect<Option.Option<string>>
}>() {}

/** Where a command leaves its exit code. */
class Status extends Context.Tag("@subauth/cli/Status")<Status, Ref.Ref<number>>() {}

/** Loads a command's module when it runs, and records the exit code it returns. */
const lazy = <M, E, R>(load: () => Promise<M>, run: (module: M) => Effect.Effect<number, E, R>) =>
  Effect.flatMap(Effect.promise(load), run).pipe(
    Effect.flatMap((code) => Effect.flatMap(Status, (status) => Ref.set(status, code)))
  )

/**
 * The handler of a command that uses a profile: an invalid name, from
 * `--profile` or `SUBAUTH_PROFILE`, is refused before the command loads (exit 2),
 * as the fast path of `status` and `token` refuses it.
 */
const withProfile = <A extends { readonly profile: string }, E, R>(handler: (args: A) => Effect.Effect<void, E, R>) => (args: A) =>
  Effect.flatMap(Shared.checkProfile(args.profile), () => handler(args))

const login = Command.make(
  "login",
  {
    device: Options.boolean("device").pipe(Options.withDescription("Sign in with a device code (for machines without a browser).")),
    browser: Options.boolean("browser").pipe(Options.withDescription("Sign in in a browser on this machine.")),
    paste: Options.boolean("paste").pipe(
      Options.withDescription("Sign in in any browser and paste the address it ends on (SSH, containers).")
    ),
    profile: Shared.profile,
    store: Shared.store,
    port: Options.integer("port").pipe(
      Options.withDescription("Listen on this port only (default 1455, else 1457; OpenAI accepts only those two)."),
      Options.optional
    ),
    openBrowser: Options.boolean("no-browser", { ifPresent: false }).pipe(
      Options.withDescription("Do not try to open a browser; the address is printed either way.")
    ),
    acceptTerms: Options.boolean("accept-terms").pipe(
      Options.withDescription("Accept the terms notice without a prompt (needed the first time without a terminal).")
    ),
    verbose: Options.boolean("verbose").pipe(Options.withDescription("Show the full terms notice again.")),
    json: Shared.json
  },
  withProfile((args) => Effect.flatMap(Reader, ({ readLine }) => lazy(() => import("./commands/login.js"), (m) => m.run(args, readLine))))
).pipe(Command.withDescription(describe(
  "Sign in with your ChatGPT account. Default: in a browser when this machine likely has one, else with a device code.",
  ["subauth login", "subauth login --device", "subauth login --paste --profile work", "CI=true subauth login --device --accept-terms"]
)))

const logout = Command.make(
  "logout",
  {
    profile: Shared.profile,
    store: Shared.store,
    revoke: Options.boolean("no-revoke", { ifPresent: false }).pipe(
      Options.withDescription("Only delete the local tokens; do not revoke the sign-in at the issuer.")
    ),
    json: Shared.json
  },
  withProfile((args) => lazy(() => import("./commands/logout.js"), (m) => m.run(args)))
).pipe(Command.withDescription(describe(
  "Revoke the sign-in at the issuer (best effort) and delete the stored tokens.",
  ["subauth logout", "subauth logout --profile work --no-revoke"]
)))

/**
 * The options of `status`. The binary parses the usual command lines of
 * `status` and `token` without @effect/cli (`fastBin.ts`, `internal/fastArgs.ts`)
 * into what these options would give: test/fast-path.test.ts compares the two.
 *
 * @since 0.1.0
 * @category constants
 */
export const statusOptions = { profile: Shared.profile, store: Shared.store, json: Shared.json }

/**
 * The options of `token` (see {@link statusOptions}).
 *
 * @since 0.1.0
 * @category constants
 */
export const tokenOptions = {
  ...statusOptions,
  refresh: Options.boolean("refresh").pipe(Options.withDescription("Refresh now instead of only when due."))
}

const status = Command.make(
  "status",
  statusOptions,
  withProfile((args) => lazy(() => import("./commands/status.js"), (m) => m.run(args)))
).pipe(Command.withDescription(describe(
  "Show whether a profile is signed in: account, email, plan, token expiry, store, verification, consent, " +
    "and the usage limits last seen (by ask, serve or usage). No network. Exits 0 when signed in, 1 when not.",
  ["subauth status", "subauth status --json | jq .plan"]
)))

const token = Command.make(
  "token",
  tokenOptions,
  withProfile((args) => lazy(() => import("./commands/token.js"), (m) => m.run(args)))
).pipe(Command.withDescription(describe(
  "Print a valid access token (refreshed if due) for scripts. It is a secret: do not log it.",
  ["curl -H \"Authorization: Bearer $(subauth token)\" …", "subauth token --json"]
)))

const ask = Command.make(
  "ask",
  {
    prompt: Args.text({ name: "prompt" }).pipe(Args.withDescription("What to ask; read from stdin when absent."), Args.optional),
    model: Options.text("model").pipe(Options.withAlias("m"), Options.withDescription("The model (see subauth models)."), Options.optional),
    system: Options.text("system").pipe(Options.withDescription("A system prompt (sent as a developer message)."), Options.optional),
    profile: Shared.profile,
    store: Shared.store,
    json: Shared.json
  },
  withProfile((args) => Effect.flatMap(Reader, ({ readAll }) => lazy(() => import("./commands/ask.js"), (m) => m.run(args, readAll))))
).pipe(Command.withDescription(describe(
  "Ask a model on your subscription; the answer is printed as it arrives. A usage window above 90 % is warned of on stderr.",
  ["subauth ask \"Explain PKCE in one paragraph\"", "git diff | subauth ask --system \"Review this diff\"", "subauth ask --json \"hi\" | jq .usage"]
)))

const models = Command.make(
  "models",
  { profile: Shared.profile, store: Shared.store, json: Shared.json },
  withProfile((args) => lazy(() => import("./commands/models.js"), (m) => m.run(args)))
).pipe(Command.withDescription(describe("List the models your subscription offers.", ["subauth models", "subauth models --json"])))

const usage = Command.make(
  "usage",
  { profile: Shared.profile, store: Shared.store, json: Shared.json },
  withProfile((args) => lazy(() => import("./commands/usage.js"), (m) => m.run(args)))
).pipe(Command.withDescription(describe(
  "Show where your subscription's limits stand: the 5-hour and weekly windows (how much is used, when each resets), " +
    "other limits, credits and plan, from the backend's usage endpoint. No model request is spent.",
  ["subauth usage", "subauth usage --profile work", "subauth usage --json | jq .primary.usedPercent"]
)))

const demo = Command.make(
  "demo",
  {},
  () => lazy(() => import("./commands/demo.js"), (m) => m.run(main))
).pipe(Command.withDescription(describe(
  "A sandbox with no account needed: fake servers on 127.0.0.1, the real commands against them " +
    "(device login, status, a streamed answer, a refresh, a usage-limit error, logout). Finishes in seconds.",
  ["subauth demo", "npm run demo"]
)))

const serve = Command.make(
  "serve",
  {
    port: Options.integer("port").pipe(Options.withDescription("The port (0: any free port). Default 8787."), Options.withDefault(8787)),
    host: Options.text("host").pipe(
      Options.withDescription("The address to listen on. Default 127.0.0.1; any other needs --allow-remote."),
      Options.withDefault("127.0.0.1")
    ),
    profile: Shared.profile,
    store: Shared.store,
    apiKey: Options.redacted("api-key").pipe(
      Options.withDescription(
        "The key clients must send (Authorization: Bearer …). Avoid it: every user of this machine can read a command " +
          "line (ps); use SUBAUTH_SERVE_KEY or --api-key-file. Default: generated on first start, kept in $SUBAUTH_HOME/serve-key."
      ),
      Options.optional
    ),
    apiKeyFile: Options.text("api-key-file").pipe(
      Options.withDescription("Read the key clients must send from this file (only you may read it: chmod 600)."),
      Options.optional
    ),
    allowRemote: Options.boolean("allow-remote").pipe(
      Options.withDescription("Allow a non-loopback --host (needs a key of your own of at least 32 characters).")
    ),
    cors: Options.text("cors").pipe(
      Options.withDescription("Allow browser pages from this origin (repeatable). Default: no CORS."),
      Options.repeated,
      Options.withDefault<ReadonlyArray<string>>([])
    )
  },
  withProfile((args) =>
    // The key from the environment, read here (through Config) and kept apart from --api-key, which warns.
    Effect.flatMap(Config.option(Config.redacted("SUBAUTH_SERVE_KEY")), (envApiKey) =>
      lazy(() => import("./commands/serve.js"), (m) => m.run({ ...args, envApiKey }))))
).pipe(Command.withDescription(describe(
  "Serve an OpenAI-compatible endpoint (chat completions, responses, models) on this machine, backed by your subscription. " +
    "Parameters the backend rejects (temperature, max_tokens, …) are accepted and dropped.",
  [
    "subauth serve",
    "subauth serve --port 9000 --profile work",
    "SUBAUTH_SERVE_KEY=\"$(cat ~/.my-key)\" subauth serve --host 0.0.0.0 --allow-remote",
    "OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=… your-tool"
  ]
)))

const connect = Command.make(
  "connect",
  {
    url: Args.text({ name: "url" }).pipe(Args.withDescription("The one-time URL the connect page shows (…/connect/cli/<code>).")),
    port: Options.integer("port").pipe(
      Options.withDescription("Listen on this port only (default 1455, else 1457; OpenAI accepts only those two)."),
      Options.optional
    ),
    openBrowser: Options.boolean("no-browser", { ifPresent: false }).pipe(
      Options.withDescription("Do not try to open a browser; the address is printed either way.")
    ),
    yes: Options.boolean("yes").pipe(Options.withDescription("Do not ask before handing the sign-in over (needed without a terminal).")),
    json: Shared.json
  },
  (args) => Effect.flatMap(Reader, ({ readLine }) => lazy(() => import("./commands/connect.js"), (m) => m.run(args, readLine)))
).pipe(Command.withDescription(describe(
  "Sign in with ChatGPT in a browser on this computer and hand the sign-in to an app's connect page (a subauth broker), " +
    "for accounts where device codes are off. The page shows this command; it works once, for a few minutes. " +
    "Nothing is stored here; a sign-in the app did not take is revoked.",
  ["npx subauth connect https://broker.example.com/connect/cli/…", "subauth connect http://127.0.0.1:8790/connect/cli/… --no-browser"]
)))

// --- subauth broker -----------------------------------------------------------------------------

const tenantId = Args.text({ name: "tenant-id" })

const databaseUrl = Options.redacted("database-url").pipe(
  Options.withDescription(
    "postgres://… (several replicas) or sqlite:PATH. Env: SUBAUTH_BROKER_DATABASE_URL (better for a URL with a password). " +
      "Default: SQLite in $SUBAUTH_HOME/broker/broker.db."
  ),
  Options.withFallbackConfig(Config.redacted("SUBAUTH_BROKER_DATABASE_URL")),
  Options.optional
)

const brokerServe = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(
      Options.withDescription("The address to listen on. Default 127.0.0.1 (put a TLS proxy in front of anything else)."),
      Options.withDefault("127.0.0.1")
    ),
    port: Options.integer("port").pipe(Options.withDescription("The port (0: any free port). Default 8790."), Options.withDefault(8790)),
    databaseUrl,
    migrate: Options.boolean("no-migrate", { ifPresent: false }).pipe(
      Options.withDescription("Do not run migrations on start; refuse to start on a database that needs them.")
    ),
    leaseSeconds: Options.integer("lease-seconds").pipe(
      Options.withDescription("How long a replica's refresh lease lasts unless renewed (a killed replica's lease runs out after it). Default 15."),
      Options.withDefault(15)
    ),
    publicUrl: Options.text("public-url").pipe(
      Options.withDescription(
        "The address users reach the broker at (https://broker.example.com), for the connect page's links. " +
          "Env: SUBAUTH_BROKER_PUBLIC_URL. Default: the address each request came to."
      ),
      Options.withFallbackConfig(Config.string("SUBAUTH_BROKER_PUBLIC_URL")),
      Options.optional
    ),
    lockWaitSeconds: Options.integer("lock-wait-seconds").pipe(
      Options.withDescription("How long a token request waits for another replica's refresh before answering 503. Default 30."),
      Options.withDefault(30)
    ),
    idleRefreshHours: Options.integer("idle-refresh-hours").pipe(
      Options.withDescription(
        "Refresh sign-ins whose refresh token has not been used for this long, so idle users do not expire unseen " +
          "(one replica refreshes each). Env: SUBAUTH_BROKER_IDLE_REFRESH_HOURS. Default 168 (7 days)."
      ),
      Options.withFallbackConfig(Config.integer("SUBAUTH_BROKER_IDLE_REFRESH_HOURS").pipe(Config.withDefault(168)))
    ),
    idleSweepSeconds: Options.integer("idle-sweep-seconds").pipe(
      Options.withDescription("How often each replica looks for idle sign-ins. Env: SUBAUTH_BROKER_IDLE_SWEEP_SECONDS. Default 600."),
      Options.withFallbackConfig(Config.integer("SUBAUTH_BROKER_IDLE_SWEEP_SECONDS").pipe(Config.withDefault(600)))
    ),
    allowInsecureWebhooks: Options.boolean("allow-insecure-webhooks").pipe(
      Options.withDescription(
        "Let tenants' webhooks use plain http:// on any host (events then cross the network readable; signed all the same). " +
          "Without it, webhooks must be https, or http on a loopback address."
      )
    )
  },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.serve(args))
).pipe(Command.withDescription(describe(
  "Run the credential broker: many users' ChatGPT sign-ins, encrypted, handing out short-lived access tokens " +
    "(API at /openapi.json). Honours SUBAUTH_ISSUER, SUBAUTH_CODEX_URL, SUBAUTH_ALLOW_INSECURE_HTTP and SUBAUTH_HOME; " +
    "the master key comes from SUBAUTH_BROKER_MASTER_KEY, SUBAUTH_BROKER_MASTER_KEY_FILE, or $SUBAUTH_HOME/broker/master.key " +
    "(made on first start with SQLite). Logs are JSON lines on stderr.",
  [
    "subauth broker serve",
    "SUBAUTH_BROKER_DATABASE_URL=postgres://broker@db/broker SUBAUTH_BROKER_MASTER_KEY_FILE=/run/secrets/master.key subauth broker serve --host 0.0.0.0"
  ]
)))

const brokerMigrate = Command.make("migrate", { databaseUrl }, (args) => lazy(() => import("./commands/broker.js"), (m) => m.migrate(args)))
  .pipe(Command.withDescription(describe("Bring the broker's database up to date (serve also does it on start).", ["subauth broker migrate"])))

const tenantCreate = Command.make(
  "create",
  { name: Args.text({ name: "name" }).pipe(Args.withDescription("A name for the app (1 to 100 characters).")), json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.tenantCreate(args))
).pipe(Command.withDescription(describe(
  "Create a tenant (an app) and its first API key, printed once: only its hash is stored.",
  ["subauth broker tenant create my-app", "subauth broker tenant create my-app --json | jq -r .key.secret"]
)))

const tenantList = Command.make("list", { json: Shared.json, databaseUrl }, (args) =>
  lazy(() => import("./commands/broker.js"), (m) => m.tenantList(args))).pipe(
    Command.withDescription(describe("List the tenants.", ["subauth broker tenant list --json"]))
  )

const tenantDelete = Command.make(
  "delete",
  {
    tenantId,
    yes: Options.boolean("yes").pipe(Options.withDescription("Confirm: the tenant's data key, users and sign-ins are deleted for good.")),
    databaseUrl
  },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.tenantDelete(args))
).pipe(Command.withDescription(describe(
  "Delete a tenant and everything of it. Its data key goes first, so its users' sign-ins can never be read again (crypto-shredding).",
  ["subauth broker tenant delete ten_… --yes"]
)))

const keyCreate = Command.make(
  "create",
  {
    tenantId,
    label: Options.text("label").pipe(Options.withDescription("What the key is for (shown in lists and the audit trail)."), Options.withDefault("api key")),
    json: Shared.json,
    databaseUrl
  },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.keyCreate(args))
).pipe(Command.withDescription(describe("Create another API key for a tenant, printed once.", ["subauth broker tenant key create ten_… --label ci"])))

const keyRevoke = Command.make(
  "revoke",
  { keyId: Args.text({ name: "key-id" }), json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.keyRevoke(args))
).pipe(Command.withDescription(describe("Revoke an API key: requests with it are refused within a second, on every replica.", ["subauth broker tenant key revoke key_…"])))

const keyList = Command.make(
  "list",
  { tenantId, json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.keyList(args))
).pipe(Command.withDescription(describe("List a tenant's API keys (never their secrets).", ["subauth broker tenant key list ten_…"])))

const tenantKey = Command.make("key").pipe(
  Command.withDescription("A tenant's API keys: create, revoke, list."),
  Command.withSubcommands([keyCreate, keyRevoke, keyList])
)

const prefix = Args.text({ name: "prefix" }).pipe(
  Args.withDescription("An address the connect page may send users back to, and everything under it (https://app.example.com/settings/).")
)

const returnUrlAdd = Command.make(
  "add",
  { tenantId, prefix, json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.returnUrlAdd(args))
).pipe(Command.withDescription(describe(
  "Allow a return address: a connect session's return_url must start with one of the tenant's (https, or http on a loopback host).",
  ["subauth broker tenant return-url add ten_… https://app.example.com/settings/"]
)))

const returnUrlRemove = Command.make(
  "remove",
  { tenantId, prefix, json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.returnUrlRemove(args))
).pipe(Command.withDescription(describe("Remove an allowed return address.", ["subauth broker tenant return-url remove ten_… https://app.example.com/settings/"])))

const returnUrlList = Command.make(
  "list",
  { tenantId, json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.returnUrlList(args))
).pipe(Command.withDescription(describe("List a tenant's allowed return addresses.", ["subauth broker tenant return-url list ten_…"])))

const returnUrl = Command.make("return-url").pipe(
  Command.withDescription("Where the connect page may send a tenant's users back to: add, remove, list."),
  Command.withSubcommands([returnUrlAdd, returnUrlRemove, returnUrlList])
)

const tenant = Command.make("tenant").pipe(
  Command.withDescription("Tenants (apps), their API keys and return addresses."),
  Command.withSubcommands([tenantCreate, tenantList, tenantDelete, tenantKey, returnUrl])
)

const rotateMasterKey = Command.make(
  "rotate-master-key",
  { json: Shared.json, databaseUrl },
  (args) => lazy(() => import("./commands/broker.js"), (m) => m.rotateMasterKey(args))
).pipe(Command.withDescription(describe(
  "Re-wrap every tenant's data key with a new master key, while the broker serves. With a key file: a new key is made " +
    "and put first in it (servers reading the file pick it up), then the old one leaves. With SUBAUTH_BROKER_MASTER_KEY: " +
    "put the new key first (new,old) on every replica, run this, then drop the old one.",
  ["subauth broker rotate-master-key", "SUBAUTH_BROKER_MASTER_KEY=$NEW,$OLD subauth broker rotate-master-key"]
)))

const brokerDemo = Command.make("demo", {}, () => lazy(() => import("./commands/brokerDemo.js"), (m) => m.run))
  .pipe(Command.withDescription(describe(
    "A broker sandbox in seconds: a temporary SQLite database, the fake issuer and backend, a tenant, a user connected " +
      "by device code, a token, a model call through the broker, sign-out and the audit trail.",
    ["subauth broker demo"]
  )))

const broker = Command.make("broker").pipe(
  Command.withDescription("The hosted credential broker: many users' sign-ins in one service (SQLite or PostgreSQL)."),
  Command.withSubcommands([brokerServe, brokerMigrate, tenant, rotateMasterKey, brokerDemo])
)

const root = Command.make("subauth").pipe(
  Command.withDescription(
    "Use a ChatGPT Plus/Pro subscription from scripts and programs (\"Sign in with ChatGPT\", as the Codex CLI does). " +
      "Subscription use outside OpenAI's own clients is a grey area of OpenAI's terms: see `subauth login --help`. " +
      EXIT_CODES
  ),
  Command.withSubcommands([login, logout, status, token, ask, models, usage, serve, demo, connect, broker])
)

/**
 * The `subauth` command, ready to run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = root

const runCli = Command.run(root, { name: "subauth", version })

// eslint-disable-next-line no-control-regex
const ansi = /\x1b\[[0-9;]*m/g

/**
 * Runs a command line (as `process.argv`) and returns its exit code. Errors
 * are reported here, in one or two lines; help and usage errors are printed
 * by @effect/cli, without colour unless `Settings.color`.
 *
 * @since 0.1.0
 * @category utils
 */
export const main = (
  argv: ReadonlyArray<string>,
  options: { readonly readLine: ReadLine; readonly readAll: Effect.Effect<Option.Option<string>> }
): Effect.Effect<number, never, Env> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const console = yield* Effect.console
    const plain = (f: (...args: ReadonlyArray<unknown>) => Effect.Effect<void>) => (...args: ReadonlyArray<unknown>) =>
      f(...args.map((a) => (typeof a === "string" ? a.replace(ansi, "") : a)))
    const quiet: Console.Console = settings.color
      ? console
      : { ...console, log: plain(console.log), error: plain(console.error), info: plain(console.info) }
    const status = yield* Ref.make<number>(ExitCode.Ok)
    const exit = yield* runCli(argv).pipe(
      Effect.provideService(Reader, { readLine: options.readLine, readAll: options.readAll }),
      Effect.provideService(Status, status),
      Effect.withConsole(quiet),
      Effect.exit
    )
    if (exit._tag === "Success") return yield* Ref.get(status)
    // @effect/cli has printed a usage error already.
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return ExitCode.Usage
    return yield* reportFailure(exit.cause)
  })
