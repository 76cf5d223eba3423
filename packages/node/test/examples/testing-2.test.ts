import { TokenStore } from "@subauth/core"
import * as TokenStoreSuite from "@subauth/testing/TokenStoreSuite"

TokenStoreSuite.run("memory", TokenStore.layerMemory)
