/** What a device is told about its activation (`POST /v1/activations`): when it began, where it is kept, the warranty. */
import { type Static, Type as T } from "@sinclair/typebox";

/** A device's activation as the device is told it; the stored fields themselves are not echoed. */
export const ActivationView = T.Object({
  device: T.String(),
  eventId: T.String(),
  region: T.String(),
  storedIn: T.String({ description: "country where the activation is stored" }),
  schemaVersion: T.Integer(),
  activatedAt: T.String({ format: "date-time" }),
  warrantyUntil: T.String({ format: "date-time" }),
});
/** A device's activation as the device is told it. */
export type Activation = Static<typeof ActivationView>;

/** The answer to an activation. */
export const ActivationResponse = T.Object({
  activation: ActivationView,
  replayed: T.Boolean({ description: "true when the device had activated before; nothing new was stored" }),
});
/** The answer to an activation. */
export type ActivationResponse = Static<typeof ActivationResponse>;
