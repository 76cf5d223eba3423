#!/usr/bin/env node
// A committed shim, so that npm can link the binary before the build has run.
import "../dist/bin.js"
