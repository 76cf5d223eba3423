/**
 * A real browser for the connect page's tests: Debian's Chromium driven by
 * `playwright-core` (no browser download). Where Chromium is missing its
 * tests are skipped, saying why; in CI (`CI=true`) they fail instead.
 * Screenshots go to `packages/broker/test-output/` (not committed).
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"

export const CHROMIUM = process.env.SUBAUTH_TEST_CHROMIUM ?? "/usr/bin/chromium"

/** Why the browser tests cannot run here, if they cannot. */
export const chromiumProblem: string | undefined = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set SUBAUTH_TEST_CHROMIUM)`

/** Registers `body` when Chromium is here; else a skip saying why, or in CI a failing test. */
export const describeWithBrowser = (title: string, body: () => void): void => {
  if (chromiumProblem === undefined) {
    describe(title, body)
  } else if (process.env.CI === "true") {
    describe(title, () => {
      it("runs in Chromium in CI", () => assert.fail(chromiumProblem))
    })
  } else {
    describe.skip(`${title}: skipped, ${chromiumProblem}`, () => {
      it("browser tests", () => {})
    })
  }
}

/** Chromium as the project runs it: headless, no sandbox (containers), nothing reaching out to the internet. */
export const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run"
    ]
  })

export const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), "..", "test-output", "connect-page")

/** A full-page screenshot of the current state, as `<name>.png` in the test-output folder. */
export const screenshot = async (page: Page, name: string): Promise<void> => {
  mkdirSync(OUTPUT, { recursive: true })
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true })
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")

export interface Violation {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly nodes: ReadonlyArray<string>
}

/**
 * axe-core's scan of the page (WCAG 2.1 A and AA, and best practices): the
 * serious and critical violations. It runs through the DevTools protocol, so
 * the page's Content-Security-Policy stays as it is.
 */
export const seriousViolations = async (page: Page): Promise<ReadonlyArray<Violation>> => {
  const violations = await page.evaluate(`(async () => {
    ${axeSource}
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }))
  })()`) as ReadonlyArray<Violation>
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical")
}

/** The page is no wider than its viewport (nothing to scroll sideways at 320 px). */
export const horizontalOverflow = (page: Page): Promise<number> =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

/**
 * Presses Tab until the focused element's accessible text matches `name`
 * (at most 40 times), and says whether the focus is visible there.
 */
export const tabTo = async (page: Page, name: RegExp): Promise<{ readonly outline: string }> => {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab")
    const focused = await page.evaluate(() => {
      const element = document.activeElement as HTMLElement | null
      if (element === null || element === document.body) return null
      const style = getComputedStyle(element)
      return { text: (element.innerText || element.getAttribute("aria-label") || element.getAttribute("value") || "").trim(), outline: `${style.outlineStyle} ${style.outlineWidth}` }
    })
    if (focused !== null && name.test(focused.text)) return { outline: focused.outline }
  }
  throw new Error(`Tab never reached ${name}`)
}
