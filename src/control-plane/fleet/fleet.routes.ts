/**
 * The fleet registry's HTTP API on the control plane. Routes stay thin: the
 * schemas below validate (compiled once, at start), one service function does
 * the work, and a presenter shapes the answer.
 *
 * Query parameters arrive as strings and Ajv does not coerce, so numbers are
 * declared as strings with a pattern that admits only valid values, then parsed.
 */
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import { authorize } from "../operators/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { Config } from "../../core/config/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import {
  BatchView,
  BuildView,
  DeviceKeyHistoryView,
  DeviceView,
  DirectoryView,
  MAX_REVOCATION_NOTE,
  ModelView,
  RevocationFeedView,
  RevokeReasonSchema,
  VariantView,
} from "@phonehome/shared";
import {
  deviceKeyHistory,
  rekeyDevice,
  revocationFeed,
  type RevokeRequest,
  revokeDevice,
} from "./device-keys.service.ts";
import {
  presentBatch,
  presentBuild,
  presentDevice,
  presentDirectoryRecord,
  presentKeyHistory,
  presentModel,
  presentVariant,
} from "./fleet.presenter.ts";
import { BatchId, KeyId, PublicKey, Serial } from "./fleet.schema.ts";
import {
  getDevice,
  importFleet,
  listBuilds,
  listModels,
  listVariants,
  lookupDirectory,
  pageBatches,
  pageDevices,
} from "./fleet.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

/** What the fleet routes need. */
export interface FleetRouteDeps {
  /** The control-plane store. */
  db: Db;
  /** Bearer token of services (collectors, factory stations); at least 16 characters. */
  serviceToken: ServiceTokenSource;
  /** Regions and the market policy, which factory imports are checked against. */
  config: Pick<Config, "policy" | "regions">;
}

/** Page size when a list request names none. */
export const DEFAULT_PAGE = 100;

/** Most keys one directory lookup may ask for. */
export const MAX_LOOKUP_KEYS = 500;

/**
 * The largest factory document `POST /v1/fleet/imports` reads: some 200,000
 * devices. A larger run is imported from its file (`phonehome fleet import`).
 */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

const Counts = T.Object({ created: T.Integer(), updated: T.Integer(), unchanged: T.Integer() });
const ImportSummaryView = T.Object({
  file: T.String(),
  format: T.String(),
  models: Counts,
  variants: Counts,
  builds: Counts,
  batches: Counts,
  devices: T.Object({ created: T.Integer(), unchanged: T.Integer() }),
});

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

const Limit = T.String({
  pattern: "^([1-9][0-9]{0,2}|1000)$",
  description: "page size, 1 to 1000 (default 100)",
});

const BatchListQuery = T.Object(
  {
    limit: T.Optional(Limit),
    after: T.Optional({ ...BatchId, description: "the `next` cursor of the previous page" }),
  },
  { additionalProperties: false },
);

const DeviceListQuery = T.Object(
  {
    batch: T.Optional({ ...BatchId, description: "only devices of this batch" }),
    limit: T.Optional(Limit),
    after: T.Optional({ ...Serial, description: "the `next` cursor of the previous page" }),
  },
  { additionalProperties: false },
);

const DeviceParams = T.Object({ serial: Serial }, { additionalProperties: false });

const LookupBody = T.Object(
  {
    keys: T.Array(KeyId, {
      minItems: 1,
      maxItems: MAX_LOOKUP_KEYS,
      description: "device key ids (`dk_...`) as envelopes carry them",
    }),
  },
  { additionalProperties: false },
);

const Note = T.String({
  maxLength: MAX_REVOCATION_NOTE,
  description: `free text for the record (a case number, what was seen), at most ${MAX_REVOCATION_NOTE} characters`,
});

const RevokeBody = T.Object(
  {
    reason: RevokeReasonSchema,
    note: T.Optional(Note),
  },
  { additionalProperties: false },
);

const RekeyBody = T.Object(
  {
    publicKey: { ...PublicKey, description: "the device's new raw Ed25519 public key, base64url" },
    note: T.Optional(Note),
  },
  { additionalProperties: false },
);

// What a revocation and a re-key answer: the device's keys after the change, or why nothing changed.
const KeyChangeResponses = {
  200: DeviceKeyHistoryView,
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  409: Problem,
  500: Problem,
};

const FeedQuery = T.Object(
  {
    after: T.Optional(
      T.String({
        pattern: "^(0|[1-9][0-9]{0,17})$",
        description: "the `next` of the previous answer; without it, the answer is the latest cursor",
      }),
    ),
  },
  { additionalProperties: false },
);

const Next = T.Union([T.String(), T.Null()], {
  description: "cursor for `after` to get the next page; null on the last",
});

type DeviceListQuery = Static<typeof DeviceListQuery>;

/** Adds the fleet registry's routes to a control-plane service. */
export function registerFleetRoutes(app: App, deps: FleetRouteDeps): void {
  const { db } = deps;
  // The directory is for collectors only; device records and imports for operators too, by role.
  const requireServiceToken = serviceTokenCheck(deps.serviceToken);
  const readFleet = authorize(deps, "fleet.read");
  const tags = ["fleet"];

  app.get(
    "/v1/fleet/models",
    {
      schema: {
        tags,
        summary: "Every registered model",
        response: { 200: T.Object({ models: T.Array(ModelView) }), 500: Problem },
      },
    },
    async () => ({ models: (await listModels(db)).map(presentModel) }),
  );

  app.get(
    "/v1/fleet/variants",
    {
      schema: {
        tags,
        summary: "Every registered variant and its region",
        response: { 200: T.Object({ variants: T.Array(VariantView) }), 500: Problem },
      },
    },
    async () => ({ variants: (await listVariants(db)).map(presentVariant) }),
  );

  app.get(
    "/v1/fleet/builds",
    {
      schema: {
        tags,
        summary: "Every registered build",
        response: { 200: T.Object({ builds: T.Array(BuildView) }), 500: Problem },
      },
    },
    async () => ({ builds: (await listBuilds(db)).map(presentBuild) }),
  );

  app.get(
    "/v1/fleet/batches",
    {
      // A batch's size, market and production date can describe one device (a batch of one), and its
      // id is what the ingest ledger counts by: for services and operators who may read the fleet.
      onRequest: readFleet,
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "Registered batches, a page at a time, in id order",
        querystring: BatchListQuery,
        response: {
          200: T.Object({ batches: T.Array(BatchView), next: Next }),
          400: Problem,
          401: Problem,
          403: Problem,
          500: Problem,
        },
      },
    },
    async (request) => {
      const page = await pageBatches(db, { limit: limitOf(request.query.limit), after: request.query.after });
      return { batches: page.batches.map(presentBatch), next: page.next };
    },
  );

  app.get(
    "/v1/fleet/devices",
    {
      // Serials identify devices, and so their owners: device records are for services
      // and for operators whose role may read the fleet, not for anyone.
      onRequest: readFleet,
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "Registered devices, a page at a time, in serial order",
        querystring: DeviceListQuery,
        response: {
          200: T.Object({ devices: T.Array(DeviceView), next: Next }),
          400: Problem,
          404: Problem,
          500: Problem,
        },
      },
    },
    async (request) => {
      const query: DeviceListQuery = request.query;
      const page = await pageDevices(db, {
        batch: query.batch,
        limit: limitOf(query.limit),
        after: query.after,
      });
      await logOperatorRead(db, "fleet.devices_read", query.batch ?? "fleet", {
        devices: page.devices.length,
        after: query.after ?? null,
      });
      return { devices: page.devices.map(presentDevice), next: page.next };
    },
  );

  app.get(
    "/v1/fleet/devices/:serial",
    {
      // Serials identify devices, and so their owners: device records are for services
      // and for operators whose role may read the fleet, not for anyone.
      onRequest: readFleet,
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "One device's factory record",
        params: DeviceParams,
        response: { 200: DeviceView, 400: Problem, 404: Problem, 500: Problem },
      },
    },
    async (request) => {
      const device = await getDevice(db, request.params.serial);
      await logOperatorRead(db, "fleet.device_read", device.serial, {});
      return presentDevice(device);
    },
  );

  app.post(
    "/v1/fleet/directory/lookup",
    {
      onRequest: requireServiceToken,
      // 500 key ids of 31 characters.
      bodyLimit: 64 * 1024,
      schema: {
        tags,
        summary: "Directory records of devices by key id, for collectors",
        security: [{ serviceToken: [] }],
        description:
          "Collectors resolve the key ids of the envelopes they receive in one call. Unknown key ids are left out of the answer. Requires `Authorization: Bearer <service token>`.",
        body: LookupBody,
        response: {
          200: T.Object({ devices: T.Array(DirectoryView) }),
          400: Problem,
          401: Problem,
          500: Problem,
        },
      },
    },
    async (request) => ({
      devices: (await lookupDirectory(db, request.body.keys)).map(presentDirectoryRecord),
    }),
  );

  app.get(
    "/v1/fleet/devices/:serial/keys",
    {
      onRequest: readFleet,
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "Every key a device has held: the one in force and the revoked ones, oldest first",
        params: DeviceParams,
        response: {
          200: DeviceKeyHistoryView,
          400: Problem,
          401: Problem,
          403: Problem,
          404: Problem,
          500: Problem,
        },
      },
    },
    async (request) => {
      const history = await deviceKeyHistory(db, request.params.serial);
      await logOperatorRead(db, "fleet.device_keys_read", history.serial, {});
      return presentKeyHistory(history);
    },
  );

  app.post(
    "/v1/fleet/devices/:serial/revocation",
    {
      onRequest: authorize(deps, "fleet.revoke"),
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "Revoke a device's key in force (cloned, stolen, key compromised)",
        description:
          "From then on collectors refuse the key's envelopes (`device.revoked`) and every service its owner " +
          "tokens (`auth.owner_token_revoked`), within the bound docs/fleet.md states. The key stays in the " +
          "registry, revoked, for ever. In the audit log (`fleet.key_revoked`).",
        params: DeviceParams,
        body: RevokeBody,
        response: KeyChangeResponses,
      },
    },
    async (request) => {
      // The schema admitted only REVOKE_REASONS; the type provider reads an `enum` schema as unknown.
      const reason = request.body.reason as RevokeRequest["reason"];
      const body = { reason, note: request.body.note };
      return presentKeyHistory(await revokeDevice(db, request.params.serial, body, currentActor()));
    },
  );

  app.post(
    "/v1/fleet/devices/:serial/keys",
    {
      onRequest: authorize(deps, "fleet.rekey"),
      schema: {
        security: [{ serviceToken: [] }],
        tags,
        summary: "Re-key a device: register its new key; the key in force is revoked as re-keyed",
        description:
          "A service centre's step. In one transaction the new key is registered and the old one revoked " +
          "(`re-keyed`); the device's records stay with it (its region keeps them under its first key's id). " +
          "In the audit log (`fleet.key_revoked`, `fleet.key_registered`).",
        params: DeviceParams,
        body: RekeyBody,
        response: KeyChangeResponses,
      },
    },
    async (request) =>
      presentKeyHistory(await rekeyDevice(db, request.params.serial, request.body, currentActor())),
  );

  app.get(
    "/v1/fleet/revocations",
    {
      onRequest: requireServiceToken,
      schema: {
        tags,
        summary: "Device keys revoked after a cursor, for collectors and control-plane replicas",
        security: [{ serviceToken: [] }],
        description:
          "Every replica reads this feed at least every few seconds (docs/collector.md) and marks the keys in its " +
          "cache revoked. Requires `Authorization: Bearer <service token>`.",
        querystring: FeedQuery,
        response: { 200: RevocationFeedView, 400: Problem, 401: Problem, 500: Problem },
      },
    },
    async (request) => revocationFeed(db, request.query.after),
  );

  app.post(
    "/v1/fleet/imports",
    {
      onRequest: authorize(deps, "fleet.import"),
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        tags,
        summary: "Import a factory document, all or nothing",
        security: [{ serviceToken: [] }],
        description:
          "The JSON form of a factory file (see docs/fleet.md), as a factory station sends it. Every row is checked " +
          "before anything is written; on any problem nothing is imported and `fleet.import_invalid` lists them all. " +
          "Requires `Authorization: Bearer <service token>`.",
        body: T.Record(T.String(), T.Unknown(), { description: "a factory document" }),
        response: { 200: ImportSummaryView, 400: Problem, 401: Problem, 413: Problem, 500: Problem },
      },
    },
    async (request) =>
      importFleet(db, deps.config, { name: "request.json", text: JSON.stringify(request.body) }),
  );
}

function limitOf(value: string | undefined): number {
  return value === undefined ? DEFAULT_PAGE : Number(value);
}

/**
 * Device records name devices, and so their owners: an operator's read of
 * them is in the audit log (who, which, when). The services' own reads — the
 * collectors' directory lookups, with the service token — are the system
 * working, one per envelope, and are not.
 */
async function logOperatorRead(
  db: Db,
  action: string,
  subject: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const actor = currentActor();
  if (!actor.startsWith("operator:")) return;
  await db.transaction((tx) => appendAudit(tx, { actor, action, subject, reason: null, detail }));
}
