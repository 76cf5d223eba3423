/**
 * The `subauth broker` commands in-process: help, the admin commands on a
 * fresh SQLite database in a temporary SUBAUTH_HOME, and their refusals.
 * (The server as a process, replicas and rotation under load are tested in
 * the broker package.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import { makeRunner, tempHome } from "./support.js"

describe("subauth broker", () => {
  it.live("--help of every broker command shows examples and exit codes", () =>
    Effect.gen(function*() {
      const run = makeRunner({ home: yield* tempHome })
      const commands = [
        ["serve"],
        ["migrate"],
        ["tenant", "create"],
        ["tenant", "list"],
        ["tenant", "delete"],
        ["tenant", "key", "create"],
        ["tenant", "key", "revoke"],
        ["tenant", "key", "list"],
        ["tenant", "return-url", "add"],
        ["tenant", "return-url", "remove"],
        ["tenant", "return-url", "list"],
        ["rotate-master-key"],
        ["demo"]
      ]
      for (const command of commands) {
        const help = yield* run("broker", ...command, "--help")
        assert.strictEqual(help.code, 0, command.join(" "))
        const text = help.stdout + help.stderr
        assert.include(text, "Examples:", command.join(" "))
        assert.include(text, "3 sign-in required")
      }
      const serve = yield* run("broker", "serve", "--help")
      assert.include(serve.stdout + serve.stderr, "SUBAUTH_BROKER_MASTER_KEY")
    }).pipe(Effect.scoped))

  it.live("tenants and keys on the embedded database: created private, listed without secrets, revoked, deleted", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const run = makeRunner({ home })
      const created = yield* run("broker", "tenant", "create", "my app", "--json")
      assert.strictEqual(created.code, 0, created.stderr)
      const { tenant, key } = JSON.parse(created.stdout) as { tenant: { id: string }; key: { id: string; secret: string } }
      assert.match(key.secret, /^sab_[A-Za-z0-9_-]{43}$/)
      // The embedded default: database and master key made private on first use.
      for (const file of ["broker/broker.db", "broker/master.key"]) {
        assert.isTrue(existsSync(join(home, file)), file)
        assert.strictEqual(statSync(join(home, file)).mode & 0o777, 0o600, file)
      }
      assert.strictEqual(statSync(join(home, "broker")).mode & 0o777, 0o700)
      const text = yield* run("broker", "tenant", "create", "second app")
      assert.include(text.stdout, "API key key_")
      assert.include(text.stderr, "shown this once")
      const list = yield* run("broker", "tenant", "list", "--json")
      assert.lengthOf(JSON.parse(list.stdout), 2)
      assert.notInclude(list.stdout, key.secret)
      const extra = yield* run("broker", "tenant", "key", "create", tenant.id, "--label", "ci", "--json")
      const extraKey = JSON.parse(extra.stdout) as { id: string }
      assert.strictEqual((yield* run("broker", "tenant", "key", "revoke", extraKey.id)).code, 0)
      const keys = yield* run("broker", "tenant", "key", "list", tenant.id, "--json")
      const listed = JSON.parse(keys.stdout) as Array<{ id: string; revoked_at: string | null }>
      assert.strictEqual(listed.find((k) => k.id === extraKey.id)?.revoked_at !== null, true)
      assert.notInclude(keys.stdout, key.secret)
      assert.strictEqual((yield* run("broker", "tenant", "key", "revoke", "key_doesnotexist")).code, 1)
      const refused = yield* run("broker", "tenant", "delete", tenant.id)
      assert.strictEqual(refused.code, 2)
      assert.include(refused.stderr, "--yes")
      assert.strictEqual((yield* run("broker", "tenant", "delete", tenant.id, "--yes")).code, 0)
      assert.lengthOf(JSON.parse((yield* run("broker", "tenant", "list", "--json")).stdout), 1)
      assert.strictEqual((yield* run("broker", "migrate")).stdout.includes("up to date"), true)
    }).pipe(Effect.scoped))

  it.live("refusals: bad names and ports, a database URL of another kind, PostgreSQL without a master key", () =>
    Effect.gen(function*() {
      const run = makeRunner({ home: yield* tempHome })
      const badName = yield* run("broker", "tenant", "create", "   ")
      assert.strictEqual(badName.code, 2, badName.stderr)
      assert.include(badName.stderr, "name")
      assert.strictEqual((yield* run("broker", "serve", "--port", "70000")).code, 2)
      assert.strictEqual((yield* run("broker", "serve", "--lease-seconds", "0")).code, 2)
      for (const publicUrl of ["http://broker.example.com", "https://broker.example.com/prefix", "not a url"]) {
        const refused = yield* run("broker", "serve", "--public-url", publicUrl)
        assert.strictEqual(refused.code, 2, publicUrl)
        assert.include(refused.stderr, "--public-url must be an https origin", publicUrl)
      }
      const idle = yield* run("broker", "serve", "--idle-refresh-hours", "0")
      assert.strictEqual(idle.code, 2, idle.stderr)
      assert.include(idle.stderr, "--idle-refresh-hours")
      assert.strictEqual((yield* run("broker", "serve", "--idle-sweep-seconds", "0")).code, 2)
      const mysql = yield* run("broker", "tenant", "list", "--database-url", "mysql://root@localhost/x")
      assert.strictEqual(mysql.code, 2)
      assert.include(mysql.stderr, "postgres://")
      // A fresh home (no key file yet), a database that does not exist: the master key is asked for before anything is opened.
      const fresh = makeRunner({ home: yield* tempHome })
      const pg = yield* fresh("broker", "tenant", "list", "--database-url", "postgres://postgres@127.0.0.1:5432/subauth_no_such_database")
      assert.strictEqual(pg.code, 1, pg.stdout + pg.stderr)
      assert.include(pg.stderr, "SUBAUTH_BROKER_MASTER_KEY")
      assert.notInclude(pg.stderr, "    at ")
    }).pipe(Effect.scoped))

  it.live("return addresses: added (normalized), listed, refused when not https or with a query, removed", () =>
    Effect.gen(function*() {
      const run = makeRunner({ home: yield* tempHome })
      const { tenant } = JSON.parse((yield* run("broker", "tenant", "create", "app", "--json")).stdout) as { tenant: { id: string } }
      const added = yield* run("broker", "tenant", "return-url", "add", tenant.id, "https://App.Example.com/settings/", "--json")
      assert.strictEqual(added.code, 0, added.stderr)
      assert.deepStrictEqual(JSON.parse(added.stdout), { tenant_id: tenant.id, prefix: "https://app.example.com/settings/" })
      for (const bad of ["http://app.example.com/", "https://app.example.com/?next=x", "javascript:alert(1)"]) {
        const refused = yield* run("broker", "tenant", "return-url", "add", tenant.id, bad)
        assert.strictEqual(refused.code, 2, `${bad}: ${refused.stderr}`)
      }
      assert.strictEqual((yield* run("broker", "tenant", "return-url", "add", "ten_nope", "https://x.example/")).code, 1)
      assert.deepStrictEqual(JSON.parse((yield* run("broker", "tenant", "return-url", "list", tenant.id, "--json")).stdout), ["https://app.example.com/settings/"])
      assert.strictEqual((yield* run("broker", "tenant", "return-url", "remove", tenant.id, "https://app.example.com/settings/")).code, 0)
      assert.strictEqual((yield* run("broker", "tenant", "return-url", "remove", tenant.id, "https://app.example.com/settings/")).code, 1)
      const empty = yield* run("broker", "tenant", "return-url", "list", tenant.id)
      assert.include(empty.stderr, "no return addresses")
    }).pipe(Effect.scoped))
})
