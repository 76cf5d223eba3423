import { createHmac, timingSafeEqual } from "node:crypto"

// `secret`: the webhook's secret (whsec_…); `body`: the request body exactly as it arrived, before any JSON parsing;
// `header`: the `subauth-signature` header. Then deduplicate by `subauth-delivery`: an event may come more than once.
export const verifyWebhook = (secret: string, body: string, header: string | undefined, nowMillis = Date.now()): boolean => {
  const fields = new Map((header ?? "").split(",").map((field) => {
    const at = field.indexOf("=")
    return [field.slice(0, at), field.slice(at + 1)] as const
  }))
  const t = Number(fields.get("t"))
  // Older than 5 minutes (or as far ahead): a replayed request, or a clock to fix.
  if (!Number.isSafeInteger(t) || Math.abs(nowMillis / 1000 - t) > 300) return false
  const expected = createHmac("sha256", secret).update(`${t}.${body}`, "utf8").digest()
  const given = Buffer.from(fields.get("v1") ?? "", "hex")
  return given.length === expected.length && timingSafeEqual(given, expected)
}
