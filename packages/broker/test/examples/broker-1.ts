import { NodeHttpClient } from "@effect/platform-node"
import { Broker, BrokerDatabase, BrokerServer, KeyWrap, MasterKey } from "@subauth/broker"
import { Provider, SecureRandom, SubscriptionLLM } from "@subauth/core"
import { Effect, Layer, type Redacted } from "effect"

// The edge: PostgreSQL for replicas (or { _tag: "Sqlite", filename }), the master key every replica shares.
export const BrokerLive = (databaseUrl: Redacted.Redacted<string>, masterKey: Redacted.Redacted<string>) =>
  BrokerServer.layer({ host: "127.0.0.1", port: 8790 }).pipe(
    Layer.provideMerge(Broker.layer({ backend: { baseUrl: SubscriptionLLM.DEFAULT_BASE_URL, originator: "codex_cli_rs" } })),
    Layer.provide(Layer.unwrapEffect(Effect.map(MasterKey.parse(masterKey, "the master key"), KeyWrap.layerLocal))),
    Layer.provide(
      BrokerDatabase.layer({ _tag: "Postgres", url: databaseUrl }).pipe(Layer.tap((db) => Effect.provide(BrokerDatabase.migrate, db)))
    ),
    Layer.provide([Provider.layerOpenAI, NodeHttpClient.layer, SecureRandom.layer])
  )
