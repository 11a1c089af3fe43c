/** Owners' rights, per region: `GET /v1/owner/data` (access export). */
import { Type as T } from "@sinclair/typebox";
import { findHeldConsents, type Notices } from "../consent/index.ts";
import type { Db } from "../db/index.ts";
import type { Dictionary } from "../dictionary/index.ts";
import type { DeviceDirectory } from "../directory/index.ts";
import type { App } from "../http/service.ts";
import { authenticateOwner } from "../owners/index.ts";
import { AccessExport, presentAccessExport } from "./access.presenter.ts";
import { findHeldRecords } from "./access.service.ts";

/** What the owner routes of a region need. */
export interface OwnerRouteDeps {
  db: Db;
  region: { id: string; storedIn: string };
  dictionary: Dictionary;
  directory: DeviceDirectory;
  /** The region's pseudonymisation secret: diagnostics are stored under a pseudonym keyed with it. */
  pseudonymSecret: Uint8Array;
  notices: Notices;
}

/** Registers the owner routes of a region's collector. */
export function registerSubjectRequestRoutes(app: App, deps: OwnerRouteDeps): void {
  app.get(
    "/v1/owner/data",
    {
      schema: {
        tags: ["owner"],
        summary: "Everything this region holds about the device, with purpose, legal basis and retention",
        description:
          "Authenticated with an owner token (`Authorization: Bearer <token>`, minted by the device with the " +
          "SDK's `mintOwnerToken`). Every region answers, including those that should hold nothing about the " +
          "device: an empty `records` there is the proof. The export comes straight from the region that holds the data.",
        security: [{ ownerToken: [] }],
        response: { 200: AccessExport, 401: T.Ref("ErrorResponse") },
      },
    },
    async (request) => {
      const owner = await authenticateOwner(deps.directory, request.headers.authorization);
      const [records, consents] = await Promise.all([
        findHeldRecords(deps.db, deps.dictionary, owner.device.keyId, deps.pseudonymSecret),
        findHeldConsents(deps, owner.device.keyId),
      ]);
      return presentAccessExport(deps.region, owner.device.keyId, records, consents, new Date());
    },
  );
}
