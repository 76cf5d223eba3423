import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * JSON text as a value, or none when it is not JSON. Every place in core that
 * reads JSON text goes through this (Effect's `Schema.parseJson`), not a
 * `JSON.parse` in a `try`.
 */
export const parseJson: (text: string) => Option.Option<unknown> = Schema.decodeOption(Schema.parseJson())
