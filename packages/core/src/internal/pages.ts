const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Escapes text for HTML element content and attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => entities[c]!)

const page = (title: string, heading: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}</style>` +
  `</head><body><h1>${escapeHtml(heading)}</h1><p>${escapeHtml(text)}</p></body></html>`

export const successPage = page("Signed in", "You are signed in", "You can close this window and return to your terminal.")

export const errorPage = (message: string) => page("Sign-in failed", "Sign-in failed", message)
