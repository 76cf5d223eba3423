// The README's program as an app runs it: its layers read SUBAUTH_ISSUER, SUBAUTH_CODEX_URL, SUBAUTH_STORE, … from
// the environment.
import { main } from "./readme.js"

console.log(await main())
