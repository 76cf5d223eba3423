import { createOpenAI } from "@ai-sdk/openai"
import { generateText, type ModelMessage } from "ai"

const openai = createOpenAI({ baseURL: "http://127.0.0.1:8787/v1", apiKey: process.env["SUBAUTH_SERVE_KEY"] ?? "" })

// Earlier turns go back as response.messages: their item_references resolve in the proxy.
export const chat = async (messages: Array<ModelMessage>) => {
  const result = await generateText({ model: openai("gpt-5.5"), messages })
  messages.push(...result.response.messages)
  return result.text
}
