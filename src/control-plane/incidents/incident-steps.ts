/**
 * What every incident service shares: the context they run in, and how an
 * incident is found and a step of it recorded.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import type { RegionRef } from "../regions/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { PackagePolicy } from "../release/index.ts";
import {
  addIncidentEvent,
  findIncident,
  type IncidentEvent,
  type IncidentRecord,
} from "./incidents.repository.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

export interface IncidentContext {
  db: Db;
  serviceToken: ServiceTokenSource;
  /** Every configured region, where the control plane reaches it, and the country its data is stored in. */
  regions: () => (RegionRef & { storedIn: string })[];
  /** The home region of devices sold in a market. */
  regionOfMarket: (market: string) => string;
  policy: PackagePolicy;
  /** The data dictionary: the categories of the collections misrouted devices sent. */
  dictionary: Dictionary;
}

export const invalid = (path: string, message: string) =>
  new PhoneHomeError("incident.invalid", message, { path });

export async function mustFind(q: Queryable, id: string, forUpdate = false): Promise<IncidentRecord> {
  const incident = await findIncident(q, id, forUpdate);
  if (incident === null) throw new PhoneHomeError("incident.not_found", `no incident ${id}`);
  return incident;
}

/** A step of an incident: on its own timeline (for the report) and in the audit log. */
export async function recordStep(
  tx: Queryable,
  incident: string,
  actor: string,
  event: IncidentEvent,
): Promise<void> {
  await addIncidentEvent(tx, incident, event);
  await appendAudit(
    tx,
    { actor, action: `incident.${event.kind}`, subject: incident, reason: null, detail: event.detail },
    event.at,
  );
}
