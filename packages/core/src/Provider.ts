/**
 * An OAuth provider as a value: issuer, client, endpoints, scopes and the
 * `originator` the provider expects. The default is OpenAI's "Sign in with
 * ChatGPT" as the Codex CLI uses it (protocol.md §0, §1.3, §9); every URL can
 * be pointed elsewhere, which is how tests and the sandbox use a fake issuer.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ORIGINATOR } from "./internal/version.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Endpoints {
  readonly authorize: string
  readonly token: string
  readonly revoke: string
  readonly deviceUserCode: string
  readonly deviceToken: string
  readonly deviceVerification: string
  readonly deviceCallback: string
  readonly jwks: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Info {
  /** A short name for messages, e.g. `openai`. */
  readonly name: string
  /** The issuer, without a trailing slash: `https://auth.openai.com`. */
  readonly issuer: string
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  /** Sent as the `originator` query parameter and header. */
  readonly originator: string
  readonly endpoints: Endpoints
}

/**
 * The provider in use. Login flows and the token lifecycle read it from the
 * context, so switching issuer is a matter of providing another layer.
 *
 * @since 0.1.0
 * @category tags
 */
export class Provider extends Context.Tag("@subauth/core/Provider")<Provider, Info>() {}

/**
 * @since 0.1.0
 * @category errors
 */
export class ProviderError extends Schema.TaggedError<ProviderError>("@subauth/core/ProviderError")("ProviderError", {
  reason: Schema.Literal("InvalidUrl", "InsecureEndpoint"),
  field: Schema.String,
  url: Schema.String
}) {
  override get message(): string {
    return this.reason === "InvalidUrl"
      ? `"${this.field}" is not a valid URL: ${this.url}`
      : `"${this.field}" uses plain http (${this.url}); only https is allowed, or http to a loopback host with "allowInsecureHttp"`
  }
}

/**
 * The OAuth client id of the Codex CLI, a public PKCE client without secret.
 *
 * @since 0.1.0
 * @category constants
 */
export const OPENAI_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"

/**
 * @since 0.1.0
 * @category constants
 */
export const OPENAI_ISSUER = "https://auth.openai.com"

/**
 * The scopes of Codex CLI 0.169 (protocol.md §9).
 *
 * @since 0.1.0
 * @category constants
 */
export const OPENAI_SCOPES: ReadonlyArray<string> = [
  "openid",
  "profile",
  "email",
  "offline_access",
  "api.connectors.read",
  "api.connectors.invoke"
]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly name?: string
  readonly issuer?: string
  readonly clientId?: string
  readonly scopes?: ReadonlyArray<string>
  readonly originator?: string
  /** Any endpoint not given is derived from the issuer. */
  readonly endpoints?: Partial<Endpoints>
  /**
   * Allow `http://` URLs whose host is a loopback address (127.0.0.0/8, ::1,
   * localhost). Meant for tests and the sandbox; other hosts are always refused.
   */
  readonly allowInsecureHttp?: boolean
}

/**
 * The endpoints of an issuer laid out as auth.openai.com lays them out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const endpointsOf = (issuer: string): Endpoints => ({
  authorize: `${issuer}/oauth/authorize`,
  token: `${issuer}/oauth/token`,
  revoke: `${issuer}/oauth/revoke`,
  deviceUserCode: `${issuer}/api/accounts/deviceauth/usercode`,
  deviceToken: `${issuer}/api/accounts/deviceauth/token`,
  deviceVerification: `${issuer}/codex/device`,
  deviceCallback: `${issuer}/deviceauth/callback`,
  jwks: `${issuer}/.well-known/jwks.json`
})

// A dotted quad of decimal octets, each 0 to 255, no leading zeros (which some resolvers read as octal).
const octets = (text: string): ReadonlyArray<number> | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const out: Array<number> = []
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined
    out.push(Number(part))
  }
  return out
}

// The eight groups of an IPv6 address (`::` and a trailing dotted quad allowed), or undefined.
const groups = (text: string): ReadonlyArray<number> | undefined => {
  let tail: Array<number> = []
  let body = text
  const lastColon = text.lastIndexOf(":")
  if (text.includes(".")) {
    const quad = octets(text.slice(lastColon + 1))
    if (quad === undefined) return undefined
    tail = [(quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!]
    // Keep a "::" before the quad; drop a lone ":".
    body = text.slice(0, lastColon + 1)
    if (!body.endsWith("::")) body = body.slice(0, -1)
  }
  const halves = body.split("::")
  if (halves.length > 2) return undefined
  const parse = (half: string) => (half === "" ? [] : half.split(":"))
  const hex = (group: string) => (/^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : NaN)
  const head = parse(halves[0]!).map(hex)
  const rest = halves.length === 2 ? parse(halves[1]!).map(hex) : []
  const known = head.length + rest.length + tail.length
  if (head.some(Number.isNaN) || rest.some(Number.isNaN)) return undefined
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined
  return [...head, ...Array<number>(8 - known).fill(0), ...rest, ...tail]
}

/**
 * Whether `host` only ever reaches this machine: `localhost`, or a literal
 * loopback address: `127.0.0.0/8` in dotted decimal, `::1` (bracketed, as in
 * a URL, or not; any spelling), or `127.0.0.0/8` mapped into IPv6. Nothing is
 * trimmed or resolved: `127.999.0.1`, `"127.0.0.1 "` and `127.1` are not
 * addresses, and `localhost` is only a name (a server resolves it and checks
 * the address it binds).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase()
  if (h === "localhost") return true
  const v4 = octets(h)
  if (v4 !== undefined) return v4[0] === 127
  const v6 = groups(h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h)
  if (v6 === undefined) return false
  const zeros = (n: number) => v6.slice(0, n).every((g) => g === 0)
  return (zeros(7) && v6[7] === 1) || (zeros(5) && v6[5] === 0xffff && v6[6]! >> 8 === 127)
}

const checkUrl = (field: string, url: string, allowInsecureHttp: boolean): ProviderError | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return new ProviderError({ reason: "InvalidUrl", field, url })
  }
  if (parsed.protocol === "https:") return undefined
  if (parsed.protocol === "http:") {
    return allowInsecureHttp && isLoopback(parsed.hostname)
      ? undefined
      : new ProviderError({ reason: "InsecureEndpoint", field, url })
  }
  return new ProviderError({ reason: "InvalidUrl", field, url })
}

/**
 * A base URL without trailing slashes, if it is https, or http to a loopback
 * host with `allowInsecureHttp`: the rule every endpoint of a provider follows,
 * for other services' URLs (the Codex backend).
 *
 * @since 0.1.0
 * @category utils
 */
export const checkBaseUrl = (field: string, url: string, allowInsecureHttp: boolean): Effect.Effect<string, ProviderError> =>
  Effect.suspend(() => {
    const error = checkUrl(field, url, allowInsecureHttp)
    return error === undefined ? Effect.succeed(url.replace(/\/+$/, "")) : Effect.fail(error)
  })

/**
 * Builds a provider from options, defaulting to OpenAI, and validates every URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Info, ProviderError> =>
  Effect.suspend(() => {
    const allowInsecureHttp = options.allowInsecureHttp === true
    const issuer = (options.issuer ?? OPENAI_ISSUER).replace(/\/+$/, "")
    const endpoints: Endpoints = { ...endpointsOf(issuer), ...options.endpoints }
    const checked: Array<[string, string]> = [
      ["issuer", issuer],
      ...Object.entries(endpoints).map(([k, v]): [string, string] => [`endpoints.${k}`, v])
    ]
    for (const [field, url] of checked) {
      const error = checkUrl(field, url, allowInsecureHttp)
      if (error) return Effect.fail(error)
    }
    return Effect.succeed<Info>({
      name: options.name ?? (issuer === OPENAI_ISSUER ? "openai" : new URL(issuer).host),
      issuer,
      clientId: options.clientId ?? OPENAI_CLIENT_ID,
      scopes: options.scopes ?? OPENAI_SCOPES,
      originator: options.originator ?? ORIGINATOR,
      endpoints
    })
  })

/**
 * OpenAI's ChatGPT sign-in, exactly as the Codex CLI uses it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openai: Info = Effect.runSync(make())

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Provider, ProviderError> => Layer.effect(Provider, make(options))

/**
 * The default provider (OpenAI).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOpenAI: Layer.Layer<Provider> = Layer.succeed(Provider, openai)

/**
 * Options read through `Config`, once, when the layer is built. A value that is
 * not set falls back to OpenAI's:
 *
 * ```ts
 * Provider.layerConfig({
 *   issuer: Config.string("SUBAUTH_ISSUER"),
 *   allowInsecureHttp: Config.boolean("SUBAUTH_ALLOW_INSECURE_HTTP")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: {
  readonly issuer?: Config.Config<string>
  readonly originator?: Config.Config<string>
  readonly allowInsecureHttp?: Config.Config<boolean>
}): Layer.Layer<Provider, ProviderError | ConfigError.ConfigError> =>
  Layer.effect(
    Provider,
    Effect.gen(function*() {
      const read = <A>(config: Config.Config<A> | undefined) =>
        config === undefined ? Config.succeed(Option.none<A>()) : Config.option(config)
      const issuer = yield* read(options.issuer)
      const originator = yield* read(options.originator)
      const allowInsecureHttp = yield* read(options.allowInsecureHttp)
      return yield* make({
        allowInsecureHttp: Option.getOrElse(allowInsecureHttp, () => false),
        ...(Option.isSome(issuer) ? { issuer: issuer.value } : {}),
        ...(Option.isSome(originator) ? { originator: originator.value } : {})
      })
    })
  )
