import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"
import * as TokenStore from "../src/TokenStore.js"

TokenStoreSuite.run("memory", TokenStore.layerMemory)
