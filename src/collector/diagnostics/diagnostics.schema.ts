/** The shape of a diagnostics payload: a batch of events, each with its own id and time. */
import { type Static, Type as T } from "@sinclair/typebox";

/** Most events one envelope may carry. */
export const MAX_EVENTS_PER_BATCH = 500;

/** A batch as it is sealed by the device: `{ events: [{ id, at, data }] }`; `data` is checked by the dictionary. */
export const DiagnosticsBatch = T.Object(
  {
    events: T.Array(
      T.Object(
        {
          id: T.String({
            pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            description: "UUID of the event; a retried batch repeats it, and the event is stored once",
          }),
          at: T.String({
            pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$",
            format: "date-time",
            description: "when the event happened on the device, RFC 3339 UTC (no leap second)",
          }),
          data: T.Record(T.String(), T.Unknown(), { description: "the collection's fields" }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_EVENTS_PER_BATCH },
    ),
  },
  { additionalProperties: false },
);
export type DiagnosticsBatch = Static<typeof DiagnosticsBatch>;
