/**
 * `@phonehome/sdk`: the device side of phonehome. This file is the package's
 * only public surface; everything else is internal.
 */
export {
  ACTIVATION_MARKER,
  ACTIVATIONS_PATH,
  type ActivationAnswer,
  type ActivationPayloadV1,
  type ActivationState,
  type ClientEvent,
  type Clock,
  type ConsentChange,
  type ConsentDecision,
  type ConsentReceipt,
  DEFAULT_BATCH_EVENTS,
  type DiagnosticsOptions,
  type DiagnosticsState,
  type FetchLike,
  type FlushResult,
  HELD_DIR,
  type IncidentNotice,
  NOTICES_FILE,
  type PhoneHomeClientOptions,
  type RecordResult,
  REGION_PATH,
  type RetryOptions,
  type UpdateAnswer,
  UPDATE_CHECK_PATH,
  UPDATE_REPORT_PATH,
} from "./client-types.ts";
export { PhoneHomeClient } from "./client.ts";
export {
  CONSENT_FILE,
  CONSENT_STATES,
  type ConsentRecord,
  type ConsentState,
  DIAGNOSTICS_COLLECTION,
  DIAGNOSTICS_PATH,
  DIAGNOSTICS_SCHEMA_VERSION,
  type DiagnosticsData,
  type DiagnosticsEvent,
  MAX_BATCH_EVENTS,
  validateDiagnosticsEvent,
} from "./diagnostics.ts";
export { DEFAULT_HELD_MAX_BYTES, DEFAULT_HELD_MAX_EVENTS, MIN_HELD_MAX_BYTES } from "./held.ts";
export {
  DESCRIPTOR_TYPE,
  MAX_DESCRIPTOR_KEYS,
  MAX_FACTORY_ROOTS,
  MAX_JWS_CHARS,
  MAX_ROOT_CHAIN,
  type RegionDescriptorStatement,
  type RegionKeyValidity,
  ROOT_LINK_TYPE,
  type RootKey,
  rootKeyId,
  type RootLinkStatement,
  type RootSigner,
  sealingKey,
  signRegionDescriptor,
  signRootLink,
  verifyRegionDescriptor,
  verifyRootChain,
} from "./descriptor.ts";
export {
  deviceKeyId,
  ENVELOPE_FORMAT,
  type Envelope,
  type EnvelopeHeader,
  ed25519PrivateKey,
  ed25519PublicKey,
  headerBytes,
  hpke,
  keyId,
  regionKeyId,
  sealEnvelope,
  sealInfo,
  signBytes,
  signingInput,
  toArrayBuffer,
  verifyBytes,
} from "./envelope.ts";
export { isSdkError, SDK_ERRORS, SdkError, type SdkErrorCode, type ServerError } from "./errors.ts";
export {
  createDeviceIdentity,
  type DeviceIdentity,
  type DeviceKeys,
  type DeviceProfile,
  generateDeviceKeys,
  loadIdentity,
  rekeyIdentity,
  saveIdentity,
  validateIdentity,
} from "./identity.ts";
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_MESSAGES,
  DiskQueue,
  type DiskQueueOptions,
  type EnqueueResult,
  type EnqueueOptions,
  type QueuedMessage,
} from "./queue.ts";
export {
  assertSecureTransport,
  checkEndpoint,
  checkSignedEndpoint,
  type CollectorLimits,
  isLoopbackHost,
  type RegionAnnouncement,
  type RegionDescriptor,
  validateRegionDescriptor,
  type VerifiedAnnouncement,
} from "./region.ts";
export { REGION_FILE } from "./region-trust.ts";
export {
  mintOwnerToken,
  ownerPortalLink,
  OWNER_TOKEN_AUDIENCE,
  OWNER_TOKEN_MAX_SECONDS,
  OWNER_TOKEN_TYPE,
} from "./owner-token.ts";
