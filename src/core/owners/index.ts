/** Owners: proving who holds a device, without accounts. */
export {
  authenticateOwner,
  type ErasureEpoch,
  type ErasureEpochs,
  type ErasureRow,
  erasureEpochOf,
  type OwnerAuthenticator,
  type OwnerContext,
  ownerAuthenticator,
  recordedErasure,
  type RecordedErasure,
} from "./owner-auth.ts";
export { register } from "./owner.command.ts";
