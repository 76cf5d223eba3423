import { assert, describe, it } from "@effect/vitest"
import { Encoding, Option } from "effect"
import * as Claims from "../src/Claims.js"
import { codexFixture } from "./fixtures.js"

const { tokens } = codexFixture("auth-json-written-by-login.json").auth_json

const jwt = (payload: unknown) =>
  `${Encoding.encodeBase64Url(JSON.stringify({ alg: "none" }))}.${Encoding.encodeBase64Url(JSON.stringify(payload))}.sig`

describe("Claims", () => {
  it("reads the account from the id token Codex CLI stored", () => {
    const claims = Option.getOrThrow(Claims.decode(tokens.id_token))
    assert.deepStrictEqual(claims.accountId, Option.some("11111111-2222-4333-8444-555555555555"))
    assert.deepStrictEqual(claims.planType, Option.some("plus"))
    assert.deepStrictEqual(claims.email, Option.some("fake.user@example.com"))
    assert.deepStrictEqual(claims.userId, Option.some("user-FAKEUSER000000000000000"))
    assert.deepStrictEqual(claims.exp, Option.some(1795346911))
    assert.deepStrictEqual(claims.organizationIds, ["org-FAKEORG0000000000000000"])
  })

  it("reads the email of an access token from the profile namespace", () => {
    const claims = Option.getOrThrow(Claims.decode(tokens.access_token))
    assert.deepStrictEqual(claims.email, Option.some("fake.user@example.com"))
    assert.deepStrictEqual(claims.accountId, Option.some("11111111-2222-4333-8444-555555555555"))
  })

  it("merges both tokens: account from the id token, plan from the access token", () => {
    const id = jwt({ [Claims.AUTH_NAMESPACE]: { chatgpt_account_id: "from-id", chatgpt_plan_type: "plus" }, email: "a@b.c" })
    const access = jwt({ [Claims.AUTH_NAMESPACE]: { chatgpt_account_id: "from-access", chatgpt_plan_type: "PRO", user_id: "u1" } })
    const account = Claims.account({ idToken: Option.some(id), accessToken: access })
    assert.deepStrictEqual(account, {
      accountId: Option.some("from-id"),
      planType: Option.some("pro"),
      email: Option.some("a@b.c"),
      userId: Option.some("u1")
    })
    const accessOnly = Claims.account({ idToken: Option.none(), accessToken: access })
    assert.deepStrictEqual(accessOnly.accountId, Option.some("from-access"))
  })

  it("never takes an organization id for the account id", () => {
    const id = jwt({ [Claims.AUTH_NAMESPACE]: { organizations: [{ id: "org-1", is_default: true }] } })
    assert.isTrue(Option.isNone(Claims.account({ idToken: Option.some(id), accessToken: "opaque" }).accountId))
  })

  it("ignores claims of the wrong type instead of failing", () => {
    const claims = Option.getOrThrow(Claims.decode(jwt({ exp: "soon", email: 42, [Claims.AUTH_NAMESPACE]: "nope" })))
    assert.isTrue(Option.isNone(claims.exp))
    assert.isTrue(Option.isNone(claims.email))
    assert.isTrue(Option.isNone(claims.accountId))
  })

  it("is none for what is not a JWT", () => {
    for (const token of ["opaque-token", "a.b", "a..c", "a.%%%.c", `x.${Encoding.encodeBase64Url("[1]")}.y`, `x.${Encoding.encodeBase64Url("{")}.y`]) {
      assert.isTrue(Option.isNone(Claims.decode(token)), token)
    }
  })
})
