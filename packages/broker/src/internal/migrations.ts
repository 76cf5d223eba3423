/**
 * The broker's tables, one code path for SQLite and PostgreSQL. Times are
 * epoch milliseconds (BIGINT); booleans are 0/1 integers; token columns hold
 * ciphertexts (see Vault), never tokens.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { identityColumn } from "./dialect.js"

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const id = identityColumn(sql)
  yield* sql`CREATE TABLE broker_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data_key TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
  )`
  yield* sql`CREATE INDEX api_keys_tenant ON api_keys (tenant_id)`
  // One row per signed-in user. Token columns are written only by the token store; other columns
  // (last use, last refresh) by single-column updates that never touch the tokens.
  yield* sql`CREATE TABLE connections (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reauth_reason TEXT,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    id_token TEXT,
    expires_at BIGINT NOT NULL,
    obtained_at BIGINT NOT NULL,
    account_id TEXT,
    plan_type TEXT,
    email TEXT,
    chatgpt_user_id TEXT,
    claims_verified INTEGER NOT NULL,
    token_version BIGINT NOT NULL,
    connected_at BIGINT NOT NULL,
    last_refresh_at BIGINT,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, user_id)
  )`
  // The cross-replica refresh lock: a lease per user, renewed by its holder while it works.
  yield* sql`CREATE TABLE leases (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  )`
  yield* sql`CREATE TABLE consents (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    terms_version TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    attested_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  )`
  yield* sql`CREATE TABLE connect_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    description TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consent_at BIGINT,
    user_code TEXT,
    verification_uri TEXT,
    device_auth_id TEXT,
    interval_ms BIGINT,
    next_poll_at BIGINT,
    poll_failures INTEGER NOT NULL,
    authorize_url TEXT,
    redirect_uri TEXT,
    oauth_state TEXT,
    code_verifier TEXT,
    paste_attempts INTEGER NOT NULL,
    claim_holder TEXT,
    claim_until BIGINT
  )`
  yield* sql`CREATE INDEX connect_sessions_due ON connect_sessions (status, next_poll_at)`
  yield* sql`CREATE INDEX connect_sessions_user ON connect_sessions (tenant_id, user_id, status)`
  yield* sql`CREATE TABLE audit (
    id ${sql.literal(id)},
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT,
    at BIGINT NOT NULL,
    detail TEXT
  )`
  yield* sql`CREATE INDEX audit_tenant ON audit (tenant_id, id)`
  yield* sql`CREATE INDEX audit_user ON audit (tenant_id, user_id, id)`
})

// The connect page, session keys and the gateway, keeping sign-ins alive, webhooks.
const pageAndGateway = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const id = identityColumn(sql)
  // The connect page: a single-use link, then a cookie (both stored as hashes); a one-time code for `subauth connect`.
  for (
    const column of [
      "return_url TEXT",
      "locale TEXT",
      "link_hash TEXT",
      "link_expires_at BIGINT",
      "page_hash TEXT",
      "handoff_hash TEXT",
      "handoff_expires_at BIGINT",
      "restarts INTEGER NOT NULL DEFAULT 0",
      // Starting over on the page makes a new session; the old one's id answers with the new one's state.
      "replaced_by TEXT"
    ]
  ) {
    yield* sql`ALTER TABLE connect_sessions ADD COLUMN ${sql.literal(column)}`
  }
  yield* sql`CREATE UNIQUE INDEX connect_sessions_link ON connect_sessions (link_hash)`
  yield* sql`CREATE UNIQUE INDEX connect_sessions_page ON connect_sessions (page_hash)`
  yield* sql`CREATE UNIQUE INDEX connect_sessions_handoff ON connect_sessions (handoff_hash)`
  // Where the page may send the user back to: prefixes of URLs, per tenant.
  yield* sql`CREATE TABLE return_urls (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, prefix)
  )`
  // The latest usage windows the backend reported for a connection (JSON), and when.
  yield* sql`ALTER TABLE connections ADD COLUMN usage_snapshot TEXT`
  yield* sql`ALTER TABLE connections ADD COLUMN usage_at BIGINT`
  yield* sql`CREATE TABLE session_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    label TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT
  )`
  yield* sql`CREATE INDEX session_keys_user ON session_keys (tenant_id, user_id)`
  // A tenant's webhook: where events go, and the signing secret (a ciphertext, see Vault).
  yield* sql`CREATE TABLE webhooks (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    usage_threshold INTEGER,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`
  // The outbox: one row per event, written where the event happens, sent by whichever replica claims it.
  // `dedupe_key`: events that must be sent once however many replicas observe them (usage thresholds).
  yield* sql`CREATE TABLE webhook_deliveries (
    id ${sql.literal(id)},
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    user_id TEXT,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    claim_holder TEXT,
    claim_until BIGINT
  )`
  yield* sql`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)`
  yield* sql`CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id)`
  yield* sql`CREATE INDEX webhook_deliveries_user ON webhook_deliveries (tenant_id, user_id)`
  yield* sql`CREATE UNIQUE INDEX webhook_deliveries_dedupe ON webhook_deliveries (tenant_id, dedupe_key)`
})

/** Migration id → migration, in order; the migrator records which ran. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_initial": initial,
  "2_page_and_gateway": pageAndGateway
}

/** The id of the newest migration: what `/readyz` expects to find applied. */
export const LATEST = Math.max(...Object.keys(migrations).map((key) => Number(key.split("_")[0])))
