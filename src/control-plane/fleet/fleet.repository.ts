/**
 * Queries of the fleet registry: one exported function per query, each taking
 * the database or an open transaction first. Parameters are always bound; many
 * rows travel as one JSON parameter expanded by `jsonb_to_recordset`, so a
 * thousand devices cost one statement, not a thousand.
 */
import type { RevocationReason } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";
import type { DirectoryRecord } from "../../core/directory/index.ts";

/** A registered model. */
export interface ModelRecord {
  id: string;
  name: string;
  warrantyMonths: number;
}

/** A registered variant: a model's software variant, bound to one region. */
export interface VariantRecord {
  model: string;
  id: string;
  region: string;
  description: string;
}

/** A registered build. `releasedAt` is RFC 3339 or null. */
export interface BuildRecord {
  number: string;
  model: string;
  variant: string;
  releasedAt: string | null;
}

/** A registered batch. */
export interface BatchRecord {
  id: string;
  model: string;
  variant: string;
  market: string;
  build: string;
  producedAt: string;
  size: number;
}

/** A registered device: its factory record. */
export interface DeviceRecord {
  serial: string;
  keyId: string;
  publicKey: string;
  model: string;
  variant: string;
  market: string;
  batch: string;
  provisionedAt: string;
}

/** One key a device has held: the factory's, or one a re-key registered; revoked or in force. */
export interface DeviceKeyRecord {
  keyId: string;
  serial: string;
  publicKey: string;
  registeredAt: string;
  registeredBy: string;
  revoked: { reason: RevocationReason; at: string; by: string; note: string } | null;
}

/** A revocation as the feed gives it: the key, why, when (RFC 3339), and its place in the feed. */
export interface RevocationRecord {
  seq: string;
  keyId: string;
  reason: RevocationReason;
  at: string;
}

/** What a collector needs to know about the device behind an envelope's key id (defined by the directory). */
export type { DirectoryRecord };

/** A page of a keyset-paginated list: rows strictly after `after`, in id order. */
export interface PageQuery {
  limit: number;
  after?: string | undefined;
}

const MODEL_COLUMNS = `id, name, warranty_months AS "warrantyMonths"`;
const VARIANT_COLUMNS = "model, id, region, description";
const BUILD_COLUMNS = `number, model, variant, released_at AS "releasedAt"`;
const BATCH_COLUMNS = `id, model, variant, market, build, produced_at AS "producedAt", size`;
const DEVICE_COLUMNS = `serial, key_id AS "keyId", public_key AS "publicKey", model, variant, market, batch,
  provisioned_at AS "provisionedAt"`;

/** Serialises fleet imports, so that two imports cannot both pass validation and then collide. */
export async function lockFleetImport(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))", [
    "phonehome.fleet.import.",
  ]);
}

/** Inserts models, or updates the name and warranty of those already registered. */
export async function upsertModels(tx: Queryable, rows: readonly ModelRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO models (id, name, warranty_months)
     SELECT r.id, r.name, r.warranty_months
       FROM jsonb_to_recordset($1::jsonb) AS r(id text, name text, warranty_months integer)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, warranty_months = EXCLUDED.warranty_months`,
    [JSON.stringify(rows.map((m) => ({ id: m.id, name: m.name, warranty_months: m.warrantyMonths })))],
  );
}

/** Inserts variants, or updates the description of those already registered; a region never changes. */
export async function upsertVariants(tx: Queryable, rows: readonly VariantRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO variants (model, id, region, description)
     SELECT r.model, r.id, r.region, r.description
       FROM jsonb_to_recordset($1::jsonb) AS r(model text, id text, region text, description text)
     ON CONFLICT (model, id) DO UPDATE SET description = EXCLUDED.description`,
    [JSON.stringify(rows)],
  );
}

/** Inserts builds, or updates the release time of those already registered. */
export async function upsertBuilds(tx: Queryable, rows: readonly BuildRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO builds (number, model, variant, released_at)
     SELECT r.number, r.model, r.variant, r.released_at
       FROM jsonb_to_recordset($1::jsonb) AS r(number text, model text, variant text, released_at timestamptz)
     ON CONFLICT (number) DO UPDATE
       -- A build registered with its manifest is released through the release gate only, never by a factory file.
       SET released_at = CASE WHEN builds.sbom IS NULL THEN EXCLUDED.released_at ELSE builds.released_at END`,
    [
      JSON.stringify(
        rows.map((b) => ({
          number: b.number,
          model: b.model,
          variant: b.variant,
          released_at: b.releasedAt,
        })),
      ),
    ],
  );
}

/** Inserts batches, or updates the size of those already registered; everything else is fixed at production. */
export async function upsertBatches(tx: Queryable, rows: readonly BatchRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO batches (id, model, variant, market, build, produced_at, size)
     SELECT r.id, r.model, r.variant, r.market, r.build, r.produced_at, r.size
       FROM jsonb_to_recordset($1::jsonb)
         AS r(id text, model text, variant text, market text, build text, produced_at timestamptz, size integer)
     ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size`,
    [
      JSON.stringify(
        rows.map((b) => ({
          id: b.id,
          model: b.model,
          variant: b.variant,
          market: b.market,
          build: b.build,
          produced_at: b.producedAt,
          size: b.size,
        })),
      ),
    ],
  );
}

/**
 * Inserts devices in one multi-row statement. The caller chunks large imports
 * and has already checked that none is registered; a collision is a bug and fails.
 * Returns the number of rows inserted.
 */
export async function insertDevices(tx: Queryable, rows: readonly DeviceRecord[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { rows: result } = await tx.query<{ inserted: number }>(
    `WITH inserted AS (
       INSERT INTO devices (serial, key_id, public_key, model, variant, market, batch, provisioned_at)
       SELECT r.serial, r.key_id, r.public_key, r.model, r.variant, r.market, r.batch, r.provisioned_at
         FROM jsonb_to_recordset($1::jsonb) AS r(serial text, key_id text, public_key text, model text,
              variant text, market text, batch text, provisioned_at timestamptz)
       RETURNING serial, key_id, public_key, provisioned_at
     ), factory_keys AS (
       -- The factory key is the device's first key (device_keys holds every key a device has held).
       INSERT INTO device_keys (key_id, serial, public_key, registered_at, registered_by)
       SELECT key_id, serial, public_key, provisioned_at, 'factory' FROM inserted
       RETURNING 1
     )
     SELECT count(*)::int AS inserted FROM factory_keys`,
    [
      JSON.stringify(
        rows.map((d) => ({
          serial: d.serial,
          key_id: d.keyId,
          public_key: d.publicKey,
          model: d.model,
          variant: d.variant,
          market: d.market,
          batch: d.batch,
          provisioned_at: d.provisionedAt,
        })),
      ),
    ],
  );
  return result[0]?.inserted ?? 0;
}

/** The models with the given ids that are registered. */
export async function findModels(q: Queryable, ids: readonly string[]): Promise<ModelRecord[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<ModelRecord>(
    `SELECT ${MODEL_COLUMNS} FROM models WHERE id = ANY($1::text[])`,
    [ids],
  );
  return rows;
}

/** The variants with the given (model, id) pairs that are registered. */
export async function findVariants(
  q: Queryable,
  keys: readonly { model: string; id: string }[],
): Promise<VariantRecord[]> {
  if (keys.length === 0) return [];
  const { rows } = await q.query<VariantRecord>(
    `SELECT ${VARIANT_COLUMNS} FROM variants
      WHERE (model, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [keys.map((k) => k.model), keys.map((k) => k.id)],
  );
  return rows;
}

/** The builds with the given numbers that are registered. */
export async function findBuilds(q: Queryable, numbers: readonly string[]): Promise<BuildRecord[]> {
  if (numbers.length === 0) return [];
  const { rows } = await q.query<BuildRecord>(
    `SELECT ${BUILD_COLUMNS} FROM builds WHERE number = ANY($1::text[])`,
    [numbers],
  );
  return rows.map(withBuildTimes);
}

/** The batches with the given ids that are registered. */
export async function findBatches(q: Queryable, ids: readonly string[]): Promise<BatchRecord[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<BatchRecord>(
    `SELECT ${BATCH_COLUMNS} FROM batches WHERE id = ANY($1::text[])`,
    [ids],
  );
  return rows.map(withBatchTimes);
}

/** How many devices each of the given batches holds (batches without devices are absent). */
export async function countDevicesByBatch(
  q: Queryable,
  batchIds: readonly string[],
): Promise<Map<string, number>> {
  if (batchIds.length === 0) return new Map();
  const { rows } = await q.query<{ batch: string; devices: number }>(
    `SELECT batch, count(*)::int AS devices FROM devices WHERE batch = ANY($1::text[]) GROUP BY batch`,
    [batchIds],
  );
  return new Map(rows.map((r) => [r.batch, r.devices]));
}

/** Registered devices whose serial or key id is among the given ones. */
export async function findDevicesBySerialsOrKeyIds(
  q: Queryable,
  serials: readonly string[],
  keyIds: readonly string[],
): Promise<DeviceRecord[]> {
  if (serials.length === 0 && keyIds.length === 0) return [];
  const { rows } = await q.query<DeviceRecord>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE serial = ANY($1::text[]) OR key_id = ANY($2::text[])`,
    [serials, keyIds],
  );
  return rows.map(withDeviceTimes);
}

/** Which device holds (or held) each of the given key ids, whether revoked or not; unknown ids are absent. */
export async function findKeyHolders(
  q: Queryable,
  keyIds: readonly string[],
): Promise<{ keyId: string; serial: string }[]> {
  if (keyIds.length === 0) return [];
  const { rows } = await q.query<{ keyId: string; serial: string }>(
    `SELECT key_id AS "keyId", serial FROM device_keys WHERE key_id = ANY($1::text[])`,
    [keyIds],
  );
  return rows;
}

/**
 * The directory records of the keys with the given ids, in one query; unknown ids are absent. A
 * revoked key is answered with its revocation, so that its envelopes are refused as revoked.
 */
export async function findDevicesByKeyIds(
  q: Queryable,
  keyIds: readonly string[],
): Promise<DirectoryRecord[]> {
  if (keyIds.length === 0) return [];
  const { rows } = await q.query<
    Omit<DirectoryRecord, "revoked"> & { revokedReason: RevocationReason | null; revokedAt: unknown }
  >(
    `SELECT k.key_id AS "keyId", d.key_id AS "deviceKey", k.public_key AS "publicKey", d.serial, d.model,
            d.variant, d.market, d.batch, b.build, v.region AS "variantRegion",
            m.warranty_months AS "warrantyMonths", k.revoked_reason AS "revokedReason",
            k.revoked_at AS "revokedAt"
       FROM device_keys k
       JOIN devices d ON d.serial = k.serial
       JOIN batches b ON b.id = d.batch
       JOIN variants v ON v.model = d.model AND v.id = d.variant
       JOIN models m ON m.id = d.model
      WHERE k.key_id = ANY($1::text[])
      ORDER BY k.key_id`,
    [keyIds],
  );
  return rows.map(({ revokedReason, revokedAt, ...record }) => ({
    ...record,
    revoked: revokedReason === null ? null : { reason: revokedReason, at: iso(revokedAt) },
  }));
}

/**
 * Serialises changes of device keys with each other and with imports (the same lock): a key's
 * revocation takes its place in the feed only under it, so the feed's order is the commit order.
 */
export async function lockFleetKeys(tx: Queryable): Promise<void> {
  await lockFleetImport(tx);
}

/** Every key the device with this serial has held, oldest first. */
export async function findDeviceKeys(q: Queryable, serial: string): Promise<DeviceKeyRecord[]> {
  const { rows } = await q.query<{
    keyId: string;
    serial: string;
    publicKey: string;
    registeredAt: unknown;
    registeredBy: string;
    revokedAt: unknown;
    revokedReason: RevocationReason | null;
    revokedBy: string | null;
    revokedNote: string | null;
  }>(
    `SELECT key_id AS "keyId", serial, public_key AS "publicKey", registered_at AS "registeredAt",
            registered_by AS "registeredBy", revoked_at AS "revokedAt", revoked_reason AS "revokedReason",
            revoked_by AS "revokedBy", revoked_note AS "revokedNote"
       FROM device_keys WHERE serial = $1 ORDER BY registered_at, key_id`,
    [serial],
  );
  return rows.map((r) => ({
    keyId: r.keyId,
    serial: r.serial,
    publicKey: r.publicKey,
    registeredAt: iso(r.registeredAt),
    registeredBy: r.registeredBy,
    revoked:
      r.revokedReason === null
        ? null
        : { reason: r.revokedReason, at: iso(r.revokedAt), by: r.revokedBy ?? "", note: r.revokedNote ?? "" },
  }));
}

/** Registers a new key for a device (a re-key); the caller holds `lockFleetKeys` and revoked the old one. */
export async function insertDeviceKey(
  tx: Queryable,
  key: { keyId: string; serial: string; publicKey: string; registeredAt: Date; registeredBy: string },
): Promise<void> {
  await tx.query(
    `INSERT INTO device_keys (key_id, serial, public_key, registered_at, registered_by)
     VALUES ($1, $2, $3, $4, $5)`,
    [key.keyId, key.serial, key.publicKey, key.registeredAt.toISOString(), key.registeredBy],
  );
}

/**
 * Revokes a key in force and gives the revocation its place in the feed; the caller holds
 * `lockFleetKeys`. Returns false when the key was not in force (nothing changed).
 */
export async function revokeDeviceKey(
  tx: Queryable,
  revocation: { keyId: string; reason: RevocationReason; note: string; by: string; at: Date },
): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE device_keys
        SET revoked_at = $2, revoked_reason = $3, revoked_note = $4, revoked_by = $5,
            revocation_seq = nextval('device_key_revocation_seq')
      WHERE key_id = $1 AND revoked_at IS NULL
      RETURNING 1`,
    [revocation.keyId, revocation.at.toISOString(), revocation.reason, revocation.note, revocation.by],
  );
  return rows.length > 0;
}

/** Revocations after the cursor `after` (a feed position), in feed order, at most `limit`. */
export async function listRevocationsAfter(
  q: Queryable,
  after: bigint,
  limit: number,
): Promise<RevocationRecord[]> {
  const { rows } = await q.query<{ seq: string; keyId: string; reason: RevocationReason; at: unknown }>(
    `SELECT revocation_seq::text AS seq, key_id AS "keyId", revoked_reason AS reason, revoked_at AS at
       FROM device_keys WHERE revocation_seq > $1::bigint ORDER BY revocation_seq LIMIT $2`,
    [after.toString(), limit],
  );
  return rows.map((r) => ({ seq: r.seq, keyId: r.keyId, reason: r.reason, at: iso(r.at) }));
}

/** The feed position of the latest revocation; "0" before the first. */
export async function latestRevocation(q: Queryable): Promise<string> {
  const { rows } = await q.query<{ seq: string }>(
    "SELECT coalesce(max(revocation_seq), 0)::text AS seq FROM device_keys",
  );
  return rows[0]?.seq ?? "0";
}

/** Every model, by id. */
export async function listModels(q: Queryable): Promise<ModelRecord[]> {
  const { rows } = await q.query<ModelRecord>(`SELECT ${MODEL_COLUMNS} FROM models ORDER BY id`);
  return rows;
}

/** Every variant, by model and id. */
export async function listVariants(q: Queryable): Promise<VariantRecord[]> {
  const { rows } = await q.query<VariantRecord>(`SELECT ${VARIANT_COLUMNS} FROM variants ORDER BY model, id`);
  return rows;
}

/** The markets registered batches were made for, with their variant's region. */
export async function listBatchMarkets(q: Queryable): Promise<{ region: string; market: string }[]> {
  const { rows } = await q.query<{ region: string; market: string }>(
    `SELECT DISTINCT v.region, b.market FROM batches b JOIN variants v ON v.model = b.model AND v.id = b.variant
      ORDER BY v.region, b.market`,
  );
  return rows;
}

/** Every build, by number. */
export async function listBuilds(q: Queryable): Promise<BuildRecord[]> {
  const { rows } = await q.query<BuildRecord>(`SELECT ${BUILD_COLUMNS} FROM builds ORDER BY number`);
  return rows.map(withBuildTimes);
}

/** One page of batches in id order. */
export async function listBatches(q: Queryable, page: PageQuery): Promise<BatchRecord[]> {
  const { rows } = await q.query<BatchRecord>(
    `SELECT ${BATCH_COLUMNS} FROM batches WHERE ($1::text IS NULL OR id > $1::text) ORDER BY id LIMIT $2`,
    [page.after ?? null, page.limit],
  );
  return rows.map(withBatchTimes);
}

/** One page of devices in serial order, optionally of one batch only. */
export async function listDevices(
  q: Queryable,
  filter: PageQuery & { batch?: string | undefined },
): Promise<DeviceRecord[]> {
  const { rows } = await q.query<DeviceRecord>(
    `SELECT ${DEVICE_COLUMNS} FROM devices
      WHERE ($1::text IS NULL OR batch = $1::text) AND ($2::text IS NULL OR serial > $2::text)
      ORDER BY serial LIMIT $3`,
    [filter.batch ?? null, filter.after ?? null, filter.limit],
  );
  return rows.map(withDeviceTimes);
}

/** The device with this serial, or undefined. */
export async function findDeviceBySerial(q: Queryable, serial: string): Promise<DeviceRecord | undefined> {
  const { rows } = await q.query<DeviceRecord>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE serial = $1`, [
    serial,
  ]);
  const row = rows[0];
  return row === undefined ? undefined : withDeviceTimes(row);
}

/** How many devices are registered, in all or in one batch. */
export async function countDevices(q: Queryable, batch?: string): Promise<number> {
  const { rows } = await q.query<{ devices: number }>(
    "SELECT count(*)::int AS devices FROM devices WHERE ($1::text IS NULL OR batch = $1::text)",
    [batch ?? null],
  );
  return rows[0]?.devices ?? 0;
}

/** True when a batch of this id is registered. */
export async function batchExists(q: Queryable, id: string): Promise<boolean> {
  const { rows } = await q.query("SELECT 1 FROM batches WHERE id = $1", [id]);
  return rows.length > 0;
}

// Both drivers return timestamptz as a Date; the rest of the code speaks RFC 3339 strings.
function iso(value: unknown): string {
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}

function withBuildTimes(row: BuildRecord): BuildRecord {
  return { ...row, releasedAt: row.releasedAt === null ? null : iso(row.releasedAt) };
}

function withBatchTimes(row: BatchRecord): BatchRecord {
  return { ...row, producedAt: iso(row.producedAt) };
}

function withDeviceTimes(row: DeviceRecord): DeviceRecord {
  return { ...row, provisionedAt: iso(row.provisionedAt) };
}
