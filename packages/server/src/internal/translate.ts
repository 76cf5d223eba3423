/**
 * Translation helpers the Chat Completions and Responses adapters share: the
 * shapes both APIs give structured output and service tiers in, as the
 * backend takes them.
 */
import { Schema } from "effect"

/** A JSON schema for structured output, as both APIs name it. */
export const JsonSchemaFormat = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.NullOr(Schema.String)),
  schema: Schema.optional(Schema.Unknown),
  strict: Schema.optional(Schema.NullOr(Schema.Boolean))
})

/** `response_format` (Chat Completions); the Responses API's `text.format` is brought into this shape. */
export const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({ type: Schema.Literal("json_schema"), json_schema: JsonSchemaFormat })
)

/** A decoded `response_format`. */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * `response_format` as the backend's `text.format`: `json_schema` as it is
 * (`strict` defaults to false, as in OpenAI's API); `json_object` as a schema
 * that any object satisfies.
 */
export const formatOf = (format: ResponseFormat): JsonSchemaTextFormat | undefined => {
  switch (format.type) {
    case "text":
      return undefined
    case "json_object":
      return { type: "json_schema", name: "json_object", schema: { type: "object" }, strict: false }
    case "json_schema":
      return {
        type: "json_schema",
        name: format.json_schema.name,
        schema: format.json_schema.schema ?? { type: "object" },
        strict: format.json_schema.strict ?? false
      }
  }
}

/**
 * The backend's `text.format` for structured output.
 */
export interface JsonSchemaTextFormat {
  readonly type: "json_schema"
  readonly name: string
  readonly schema: unknown
  readonly strict: boolean
}

/**
 * Service tiers the backend takes; any other value (`auto`, `default`) means
 * "the default" and is not sent.
 */
export const serviceTierOf = (tier: string | null | undefined): "priority" | "flex" | undefined =>
  tier === "priority" || tier === "flex" ? tier : undefined
