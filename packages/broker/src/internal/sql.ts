/**
 * What every module that talks SQL shares: a whole number as either engine
 * returns it (PostgreSQL's BIGINT arrives as a string), and a database failure
 * said the same way everywhere.
 */
import { Schema } from "effect"
import { DatabaseError } from "../BrokerError.js"

export const Int = Schema.Union(Schema.Number, Schema.NumberFromString)

/** A failure while doing `what`, as a `DatabaseError` (one already is kept as it is). */
export const dbFailed = (what: string) => (cause: unknown): DatabaseError =>
  cause instanceof DatabaseError ? cause : new DatabaseError({ reason: "Failed", description: `the database failed while ${what}`, cause })
