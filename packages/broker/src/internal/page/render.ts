/**
 * The connect page's HTML, one view a state. Every value is escaped; the
 * only script and stylesheet are the broker's own files; links that leave the
 * page open in a new tab without a referrer.
 */
import { type Catalog, catalogs, type Locale, LOCALES, TERMS_OF_USE_URL, USAGE_POLICIES_URL } from "./catalog.js"

export type View =
  | { readonly _tag: "consent"; readonly firstTime: boolean }
  | { readonly _tag: "choose" }
  | { readonly _tag: "device"; readonly userCode: string; readonly verificationUri: string; readonly expiresAt: number }
  | { readonly _tag: "paste"; readonly authorizeUrl: string; readonly redirectUri: string; readonly error?: string | undefined }
  | { readonly _tag: "cli"; readonly command: string; readonly expiresAt: number }
  | { readonly _tag: "connected"; readonly returnUrl: string | undefined }
  | { readonly _tag: "expired" | "disabled" | "denied" | "different_account" | "failed" }
  | { readonly _tag: "gone" | "link_used" }

/** Views that end when the sign-in moves on: the page asks for the state and turns by itself. */
export const waits = (view: View): boolean => view._tag === "device" || view._tag === "cli"

export const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const external = (href: string, text: string, className?: string) =>
  `<a${className !== undefined ? ` class="${className}"` : ""} href="${escape(href)}" target="_blank" rel="noopener noreferrer">${escape(text)}</a>`

const post = (action: string, csrf: string, fields: Record<string, string>, label: string, secondary = false) =>
  `<form method="post" action="${escape(action)}">` +
  `<input type="hidden" name="csrf" value="${escape(csrf)}">` +
  Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`).join("") +
  `<button type="submit"${secondary ? ` class="secondary"` : ""}>${escape(label)}</button></form>`

const time = (ms: number, now: number) => {
  const left = Math.max(0, Math.round((ms - now) / 1000))
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`
}

const body = (t: Catalog, view: View, csrf: string, now: number): { readonly title: string; readonly html: string } => {
  const restart = (label = t.startAgain, method = "page", secondary = false) => post("/connect/restart", csrf, { method }, label, secondary)
  const another = restart(t.chooseOther, "page", true)
  switch (view._tag) {
    case "consent":
      return {
        title: t.noticeTitle,
        html: `<p>${escape(t.notice)}</p>` +
          `<p>${external(TERMS_OF_USE_URL, t.termsLink)} · ${external(USAGE_POLICIES_URL, t.policiesLink)}</p>` +
          (view.firstTime
            ? `<section class="panel" aria-labelledby="disclaimer"><h2 id="disclaimer">${escape(t.disclaimerTitle)}</h2><ul>` +
              t.disclaimer.map((line) => `<li>${escape(line)}</li>`).join("") + `</ul></section>`
            : "") +
          `<p class="hint" id="accept-hint">${escape(t.acceptHint)}</p>` +
          `<div class="actions">${post("/connect/accept", csrf, {}, t.acceptButton)}</div>`
      }
    case "choose":
      return {
        title: t.chooseTitle,
        html: `<p>${escape(t.chooseIntro)}</p><ul class="methods">` +
          ([["device", t.methodDevice, t.methodDeviceHint], ["paste", t.methodPaste, t.methodPasteHint], ["cli", t.methodCli, t.methodCliHint]] as const)
            .map(([method, label, hint]) =>
              `<li>${post("/connect/method", csrf, { method }, label)}<p class="hint">${escape(hint)}</p></li>`
            ).join("") +
          `</ul>`
      }
    case "device":
      return {
        title: t.deviceTitle,
        html: `<ol><li><p>${escape(t.deviceStep1)}</p><p>${external(view.verificationUri, t.deviceOpenLink, "button")}</p></li>` +
          `<li><p>${escape(t.deviceStep2)}</p><p class="code" id="code">${escape(view.userCode)}</p>` +
          `<p><button type="button" class="secondary" data-copy="${escape(view.userCode)}" data-copied="${escape(t.copied)}">${escape(t.copy)}</button></p></li></ol>` +
          `<p>${escape(t.expiresIn)} <span data-deadline="${new Date(view.expiresAt).toISOString()}">${time(view.expiresAt, now)}</span>.</p>` +
          `<p class="note">${escape(t.phishingWarning)}</p>` +
          `<p class="waiting">${escape(t.waiting)}</p>` +
          `<div class="actions">${another}</div>`
      }
    case "paste":
      return {
        title: t.pasteTitle,
        html: `<ol><li><p>${escape(t.pasteStep1)}</p><p>${external(view.authorizeUrl, t.pasteOpenLink, "button")}</p></li>` +
          `<li><p>${escape(t.pasteStep2.replace("{address}", view.redirectUri))}</p></li>` +
          `<li><p>${escape(t.pasteStep3)}</p>` +
          `<form method="post" action="/connect/paste"><input type="hidden" name="csrf" value="${escape(csrf)}">` +
          `<label for="url">${escape(t.pasteLabel)}</label>` +
          `<input type="url" id="url" name="url" required autocomplete="off" spellcheck="false" inputmode="url"` +
          (view.error !== undefined ? ` aria-invalid="true" aria-describedby="url-error"` : "") + `>` +
          (view.error !== undefined ? `<p class="error" id="url-error" role="alert">${escape(view.error)}</p>` : "") +
          `<div class="actions"><button type="submit">${escape(t.pasteButton)}</button></div></form></li></ol>` +
          `<div class="actions">${another}</div>`
      }
    case "cli":
      return {
        title: t.cliTitle,
        html: `<p>${escape(t.cliIntro)}</p><pre><code id="command">${escape(view.command)}</code></pre>` +
          `<p><button type="button" class="secondary" data-copy="${escape(view.command)}" data-copied="${escape(t.copied)}">${escape(t.copy)}</button></p>` +
          `<p class="note">${escape(t.cliNote)}</p><p class="waiting">${escape(t.waiting)}</p>` +
          `<div class="actions">${another}</div>`
      }
    case "connected":
      return {
        title: t.connectedTitle,
        html: `<p class="ok">${escape(t.connectedText)}</p>` +
          (view.returnUrl !== undefined
            ? `<div class="actions"><a class="button" href="${escape(view.returnUrl)}">${escape(t.backToApp)}</a></div>`
            : `<p>${escape(t.closeTab)}</p>`)
      }
    case "expired":
      return { title: t.expiredTitle, html: `<p>${escape(t.expiredText)}</p><div class="actions">${restart()}</div>` }
    case "disabled":
      return {
        title: t.disabledTitle,
        html: `<p>${escape(t.disabledText)}</p><div class="actions">${restart(t.usePaste, "paste")}${restart(t.startAgain, "device")}</div>`
      }
    case "denied":
      return { title: t.deniedTitle, html: `<p>${escape(t.deniedText)}</p><div class="actions">${restart()}</div>` }
    case "different_account":
      return { title: t.differentAccountTitle, html: `<p>${escape(t.differentAccountText)}</p><div class="actions">${restart()}</div>` }
    case "failed":
      return { title: t.failedTitle, html: `<p>${escape(t.failedText)}</p><div class="actions">${restart()}</div>` }
    case "gone":
      return { title: t.sessionGoneTitle, html: `<p>${escape(t.sessionGoneText)}</p>` }
    case "link_used":
      return { title: t.linkUsedTitle, html: `<p>${escape(t.linkUsedText)}</p>` }
  }
}

// The document's start: language, viewport, no referrer, the stylesheet, and `extra` (trusted markup).
const head = (t: Catalog, title: string, extra: string) => `<!doctype html>
<html lang="${t.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${extra}
<title>${escape(title)}</title>
<link rel="stylesheet" href="/connect/assets/page.css">
</head>`

/** The whole page of `view` in `locale`, as of `now`. `csrf` goes into every form. */
export const page = (locale: Locale, view: View, csrf: string, now: number): string => {
  const t = catalogs[locale]
  const { html, title } = body(t, view, csrf, now)
  const languages = LOCALES.map((l) =>
    l === locale ? `<strong>${l.toUpperCase()}</strong>` : `<a href="/connect?locale=${l}" hreflang="${l}" lang="${l}">${l.toUpperCase()}</a>`
  ).join(" · ")
  return `${head(t, `${title} – ${t.title}`, `<script src="/connect/assets/page.js" defer></script>`)}
<body data-view="${view._tag}" data-poll="${waits(view)}">
<a class="skip" href="#main">${escape(t.skipToContent)}</a>
<main id="main" tabindex="-1">
<p class="hint">${escape(t.title)}</p>
<h1 tabindex="-1">${escape(title)}</h1>
${html}
</main>
<p id="live" class="sr-only" role="status" aria-live="polite"></p>
<footer><nav aria-label="${escape(t.language)}">${escape(t.language)}: ${languages}</nav></footer>
</body>
</html>
`
}

/** A page that moves on to `/connect` at once, with no script: the link it came from leaves the address bar. */
export const moveOn = (locale: Locale): string => {
  const t = catalogs[locale]
  return `${head(t, t.title, `<meta http-equiv="refresh" content="0;url=/connect">`)}
<body><main id="main"><h1>${escape(t.title)}</h1><p><a href="/connect">${escape(t.continueLink)}</a></p></main></body>
</html>
`
}
