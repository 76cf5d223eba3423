/**
 * The claims subauth reads from OpenAI's tokens: account id, plan, email, user
 * id (namespace `https://api.openai.com/auth`, protocol.md §4.1) and `exp`.
 *
 * Decoding here does not check signatures; it is what every reference client
 * does to find the account id and the expiry. Signature verification against
 * the issuer's JWKS is a separate step.
 *
 * Claims are read leniently, one field at a time: a claim of an unexpected type
 * is ignored rather than failing the whole token, because the provider adds and
 * changes claims without notice.
 *
 * @since 0.1.0
 */
import * as Encoding from "effect/Encoding"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { parseJson } from "./internal/json.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const AUTH_NAMESPACE = "https://api.openai.com/auth"

/**
 * @since 0.1.0
 * @category constants
 */
export const PROFILE_NAMESPACE = "https://api.openai.com/profile"

/**
 * What one token says about its holder. Every field is optional in the token.
 *
 * @since 0.1.0
 * @category models
 */
export interface Claims {
  /** `exp`, in seconds since the epoch. */
  readonly exp: Option.Option<number>
  readonly iat: Option.Option<number>
  readonly iss: Option.Option<string>
  readonly sub: Option.Option<string>
  readonly email: Option.Option<string>
  readonly accountId: Option.Option<string>
  readonly planType: Option.Option<string>
  readonly userId: Option.Option<string>
  readonly organizationIds: ReadonlyArray<string>
  readonly fedramp: boolean
}

type Json = Record<string, unknown>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)
const str = (o: Json | undefined, key: string): Option.Option<string> =>
  o !== undefined && typeof o[key] === "string" && o[key] !== "" ? Option.some(o[key] as string) : Option.none()
const num = (o: Json | undefined, key: string): Option.Option<number> =>
  o !== undefined && typeof o[key] === "number" && Number.isFinite(o[key]) ? Option.some(o[key] as number) : Option.none()
const obj = (o: Json | undefined, key: string): Json | undefined => (o !== undefined && isObject(o[key]) ? o[key] : undefined)

/**
 * The payload of a compact JWS as a JSON object, or none when `token` is not
 * three non-empty base64url parts whose middle part is a JSON object.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodePayload = (token: string): Option.Option<Json> => {
  const parts = token.split(".")
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return Option.none()
  const decoded = Encoding.decodeBase64UrlString(parts[1]!)
  if (Either.isLeft(decoded)) return Option.none()
  return Option.filter(parseJson(decoded.right), isObject)
}

/**
 * The claims of an already decoded payload.
 *
 * @since 0.1.0
 * @category utils
 */
export const fromPayload = (payload: Json): Claims => {
  const auth = obj(payload, AUTH_NAMESPACE)
  const profile = obj(payload, PROFILE_NAMESPACE)
  const organizations = Array.isArray(payload.organizations)
    ? payload.organizations
    : Array.isArray(auth?.organizations)
    ? auth.organizations
    : []
  const orgs = organizations.filter(isObject)
  const defaultFirst = [...orgs.filter((o) => o.is_default === true), ...orgs.filter((o) => o.is_default !== true)]
  return {
    exp: num(payload, "exp"),
    iat: num(payload, "iat"),
    iss: str(payload, "iss"),
    sub: str(payload, "sub"),
    email: Option.orElse(str(payload, "email"), () => str(profile, "email")),
    accountId: str(auth, "chatgpt_account_id"),
    planType: Option.map(str(auth, "chatgpt_plan_type"), (p) => p.toLowerCase()),
    userId: Option.orElse(str(auth, "chatgpt_user_id"), () => str(auth, "user_id")),
    organizationIds: defaultFirst.flatMap((o) => (typeof o.id === "string" ? [o.id] : [])),
    fedramp: auth?.chatgpt_account_is_fedramp === true
  }
}

/**
 * The claims of a JWT, without checking its signature; none if it is not a JWT.
 *
 * @since 0.1.0
 * @category utils
 */
export const decode = (token: string): Option.Option<Claims> => Option.map(decodePayload(token), fromPayload)

/**
 * What subauth keeps about an account, merged from the id token and the access
 * token.
 *
 * @since 0.1.0
 * @category models
 */
export interface Account {
  readonly accountId: Option.Option<string>
  readonly planType: Option.Option<string>
  readonly email: Option.Option<string>
  readonly userId: Option.Option<string>
}

/**
 * Merges the claims of both tokens. The account id comes from the id token
 * first (as codex-rs stores it), then the access token; an organization id is
 * never used in its place (opencode does, but it is not a ChatGPT account id
 * and the backend rejects it). The plan comes from the access token first (it
 * is what the backend enforces), then the id token.
 *
 * @since 0.1.0
 * @category utils
 */
export const account = (tokens: {
  readonly idToken: Option.Option<string>
  readonly accessToken: string
}): Account => {
  const id = Option.flatMap(tokens.idToken, decode)
  const access = decode(tokens.accessToken)
  const pick = <A>(first: Option.Option<Claims>, second: Option.Option<Claims>, f: (c: Claims) => Option.Option<A>) =>
    Option.orElse(Option.flatMap(first, f), () => Option.flatMap(second, f))
  return {
    accountId: pick(id, access, (c) => c.accountId),
    planType: pick(access, id, (c) => c.planType),
    email: pick(id, access, (c) => c.email),
    userId: pick(id, access, (c) => c.userId)
  }
}
