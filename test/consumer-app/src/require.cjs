// A CommonJS program loading every package with require() (Node 20.19's require(esm)).
const { SubscriptionLLM } = require("@subauth/core")
const { NodeTokenStore } = require("@subauth/node")
const { FakeCodexBackend } = require("@subauth/testing")
const { OpenAIProxy } = require("@subauth/server")
const { SubscriptionLanguageModel } = require("@subauth/ai")
const { BrokerTokenManager } = require("@subauth/broker")

const loaded = [SubscriptionLLM.generate, NodeTokenStore.layerFile, FakeCodexBackend.layerTest, OpenAIProxy.httpApp, SubscriptionLanguageModel.layer, BrokerTokenManager.layer]
console.log(loaded.map((f) => typeof f).join(" "))
