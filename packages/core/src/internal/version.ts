/** Kept in step with packages/core/package.json by a test. */
export const version = "0.1.0"

/** What subauth calls itself on the wire: the `user-agent` of every request it makes. */
export const USER_AGENT = `subauth/${version}`

/** The `originator` header the reference clients send (protocol.md §5.2), to the issuer and the backend alike. */
export const ORIGINATOR = "codex_cli_rs"
