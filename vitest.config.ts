import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // A private Secret Service for the keychain tests where one can be started (see the file).
    globalSetup: ["./packages/node/test/keyring-session.ts"],
    // No test may reach the internet; fake servers listen on 127.0.0.1. The one exception is the consumer test
    // (test/consumer.test.ts), whose npm installs reach the npm registry.
    passWithNoTests: false
  }
})
