import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // No test may reach the internet; fake servers listen on 127.0.0.1.
    passWithNoTests: false
  }
})
