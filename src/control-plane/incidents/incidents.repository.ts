/**
 * Queries of incidents on the control plane. One function per query; the
 * caller passes the database or a transaction; lists travel as one JSON
 * parameter.
 */
import type { Destination, IncidentScope as Scope, NoticeRegions } from "@phonehome/shared";

export type { Destination, IncidentScope as Scope } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** Which devices an incident is about: each list narrows (empty: any); the window is when they were provisioned. */

/** An incident row. */
export interface IncidentRecord {
  id: string;
  title: string;
  description: string;
  source: "misrouting" | "operator";
  alertKey: string | null;
  scope: Scope;
  dataCategories: string[];
  destinations: Destination[];
  advisory: string | null;
  openedAt: Date;
  closedAt: Date | null;
}

/** A notice row; `regions` says per region how many devices it took the notice for, or why it was not reached. */
export interface NoticeRecord {
  id: string;
  incident: string;
  title: string;
  body: string;
  sentAt: Date;
  regions: NoticeRegions;
}

/** An entry of an incident's own timeline. */
export interface IncidentEvent {
  at: Date;
  kind: string;
  detail: Record<string, unknown>;
}

const COLUMNS = `id, title, description, source, alert_key AS "alertKey", scope, data_categories AS "dataCategories",
  destinations, advisory, opened_at AS "openedAt", closed_at AS "closedAt"`;

function withDates(r: IncidentRecord): IncidentRecord {
  return {
    ...r,
    openedAt: new Date(r.openedAt),
    closedAt: r.closedAt === null ? null : new Date(r.closedAt),
  };
}

/** Takes the next incident id, `INC-<n>`. */
export async function nextIncidentId(tx: Queryable): Promise<string> {
  const { rows } = await tx.query<{ id: string }>("SELECT 'INC-' || nextval('incident_numbers') AS id");
  const id = rows[0]?.id;
  if (id === undefined) throw new Error("no incident number");
  return id;
}

/** Serialises the opening of incidents from alerts, so that one alert opens one incident. */
export async function lockAlertOpening(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.incidents.alerts.' || current_schema()))");
}

/** Stores a new incident. */
export async function insertIncident(tx: Queryable, r: IncidentRecord): Promise<void> {
  await tx.query(
    `INSERT INTO incidents (id, title, description, source, alert_key, scope, data_categories, destinations, advisory,
                            opened_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10)`,
    [
      r.id,
      r.title,
      r.description,
      r.source,
      r.alertKey,
      JSON.stringify(r.scope),
      JSON.stringify(r.dataCategories),
      JSON.stringify(r.destinations),
      r.advisory,
      r.openedAt.toISOString(),
    ],
  );
}

/** One incident, or null; with `forUpdate`, its row is locked until the transaction ends. */
export async function findIncident(
  q: Queryable,
  id: string,
  forUpdate = false,
): Promise<IncidentRecord | null> {
  const { rows } = await q.query<IncidentRecord>(
    `SELECT ${COLUMNS} FROM incidents WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [id],
  );
  const [row] = rows;
  return row === undefined ? null : withDates(row);
}

/** The incident an alert key opened, or null. */
export async function findIncidentByAlertKey(q: Queryable, alertKey: string): Promise<IncidentRecord | null> {
  const { rows } = await q.query<IncidentRecord>(`SELECT ${COLUMNS} FROM incidents WHERE alert_key = $1`, [
    alertKey,
  ]);
  const [row] = rows;
  return row === undefined ? null : withDates(row);
}

/** Every incident, newest first. */
export async function listIncidentRecords(q: Queryable): Promise<(IncidentRecord & { devices: number })[]> {
  const { rows } = await q.query<IncidentRecord & { devices: number }>(
    `SELECT ${COLUMNS}, (SELECT count(*)::integer FROM incident_devices d WHERE d.incident = i.id) AS devices
       FROM incidents i ORDER BY opened_at DESC, id DESC LIMIT 1000`,
  );
  return rows.map((r) => ({ ...withDates(r), devices: r.devices }));
}

/** Links an advisory, or closes the incident. */
export async function updateIncident(
  tx: Queryable,
  id: string,
  change: { advisory?: string; closedAt?: Date },
): Promise<void> {
  await tx.query(
    `UPDATE incidents SET advisory = COALESCE($2, advisory), closed_at = COALESCE($3::timestamptz, closed_at)
      WHERE id = $1`,
    [id, change.advisory ?? null, change.closedAt?.toISOString() ?? null],
  );
}

/** Which of the named batches are registered. */
export async function registeredBatches(q: Queryable, batches: readonly string[]): Promise<Set<string>> {
  const { rows } = await q.query<{ id: string }>(
    "SELECT id FROM batches WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
    [JSON.stringify(batches)],
  );
  return new Set(rows.map((r) => r.id));
}

/** Which of the named builds are registered. */
export async function registeredBuilds(q: Queryable, builds: readonly string[]): Promise<Set<string>> {
  const { rows } = await q.query<{ number: string }>(
    "SELECT number FROM builds WHERE number IN (SELECT jsonb_array_elements_text($1::jsonb))",
    [JSON.stringify(builds)],
  );
  return new Set(rows.map((r) => r.number));
}

/** The builds the named batches were flashed with. */
export async function buildsOfBatches(q: Queryable, batches: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ build: string }>(
    `SELECT DISTINCT build FROM batches WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) ORDER BY build`,
    [JSON.stringify(batches)],
  );
  return rows.map((r) => r.build);
}

/**
 * Records as the incident's devices every registered device the scope
 * selects: of a listed batch, flashed (with its batch) with a listed build,
 * sold in a listed market, provisioned in [from, to). Answers how many.
 */
export async function selectIncidentDevices(tx: Queryable, incident: string, scope: Scope): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `WITH chosen AS (
       INSERT INTO incident_devices (incident, serial)
       SELECT $1, d.serial FROM devices d JOIN batches b ON b.id = d.batch
        WHERE ($2::jsonb = '[]'::jsonb OR d.batch IN (SELECT jsonb_array_elements_text($2::jsonb)))
          AND ($3::jsonb = '[]'::jsonb OR b.build IN (SELECT jsonb_array_elements_text($3::jsonb)))
          AND ($4::jsonb = '[]'::jsonb OR d.market IN (SELECT jsonb_array_elements_text($4::jsonb)))
          AND ($5::timestamptz IS NULL OR d.provisioned_at >= $5::timestamptz)
          AND ($6::timestamptz IS NULL OR d.provisioned_at < $6::timestamptz)
        ORDER BY d.serial
       RETURNING serial)
     SELECT count(*)::integer AS n FROM chosen`,
    [
      incident,
      JSON.stringify(scope.batches),
      JSON.stringify(scope.builds),
      JSON.stringify(scope.markets),
      scope.from,
      scope.to,
    ],
  );
  return rows[0]?.n ?? 0;
}

/** The incident's devices counted by batch, with the batch's build and market; and when the first was provisioned. */
export async function incidentDeviceCounts(
  q: Queryable,
  incident: string,
): Promise<{ batch: string; build: string; market: string; devices: number; firstProvisionedAt: Date }[]> {
  const { rows } = await q.query<{
    batch: string;
    build: string;
    market: string;
    devices: number;
    firstProvisionedAt: Date;
  }>(
    `SELECT d.batch, b.build, d.market, count(*)::integer AS devices, min(d.provisioned_at) AS "firstProvisionedAt"
       FROM incident_devices i JOIN devices d ON d.serial = i.serial JOIN batches b ON b.id = d.batch
      WHERE i.incident = $1 GROUP BY d.batch, b.build, d.market ORDER BY d.batch`,
    [incident],
  );
  return rows.map((r) => ({ ...r, firstProvisionedAt: new Date(r.firstProvisionedAt) }));
}

/** The key ids and markets of the incident's devices, in serial order. */
export async function incidentDeviceKeys(
  q: Queryable,
  incident: string,
): Promise<{ keyId: string; market: string }[]> {
  const { rows } = await q.query<{ keyId: string; market: string }>(
    `SELECT d.key_id AS "keyId", d.market FROM incident_devices i JOIN devices d ON d.serial = i.serial
      WHERE i.incident = $1 ORDER BY i.serial`,
    [incident],
  );
  return rows;
}

/** Adds an entry to the incident's timeline. */
export async function addIncidentEvent(tx: Queryable, incident: string, event: IncidentEvent): Promise<void> {
  await tx.query("INSERT INTO incident_events (incident, at, kind, detail) VALUES ($1, $2, $3, $4::jsonb)", [
    incident,
    event.at.toISOString(),
    event.kind,
    JSON.stringify(event.detail),
  ]);
}

/** The incident's timeline, oldest first. */
export async function incidentEvents(q: Queryable, incident: string): Promise<IncidentEvent[]> {
  const { rows } = await q.query<IncidentEvent>(
    "SELECT at, kind, detail FROM incident_events WHERE incident = $1 ORDER BY at, id",
    [incident],
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

/** Stores a new notice of the incident, numbered after its last one; answers its id. Lock the incident first. */
export async function insertNotice(
  tx: Queryable,
  notice: { incident: string; title: string; body: string; sentAt: Date },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO incident_notices (id, incident, title, body, sent_at)
     SELECT $1::text || '-N' || (count(*) + 1), $1, $2, $3, $4 FROM incident_notices WHERE incident = $1
     RETURNING id`,
    [notice.incident, notice.title, notice.body, notice.sentAt.toISOString()],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error("no notice id");
  return id;
}

/** Records what the regions answered when the notice was handed over (merged into what earlier hand-overs said). */
export async function setNoticeRegions(
  q: Queryable,
  notice: string,
  regions: NoticeRecord["regions"],
): Promise<void> {
  await q.query("UPDATE incident_notices SET regions = regions || $2::jsonb WHERE id = $1", [
    notice,
    JSON.stringify(regions),
  ]);
}

/** The incident's notices, oldest first. */
export async function incidentNotices(q: Queryable, incident: string): Promise<NoticeRecord[]> {
  const { rows } = await q.query<NoticeRecord>(
    `SELECT id, incident, title, body, sent_at AS "sentAt", regions FROM incident_notices
      WHERE incident = $1 ORDER BY sent_at, id`,
    [incident],
  );
  return rows.map((r) => ({ ...r, sentAt: new Date(r.sentAt) }));
}
