/**
 * The build each device last reported, in its region, and the devices active
 * each day by batch, market and build (counts only). One function per query;
 * the caller passes the database or a transaction.
 */
import type { AdoptionRow } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** A device's last reported build, as stored. */
export interface DeviceBuildRecord {
  deviceKey: string;
  batch: string;
  market: string;
  schemaVersion: number;
  build: string;
  receivedAt: Date;
  expiresAt: Date;
}

/**
 * Records that a device runs `build` now, and counts it once in the day's
 * adoption: a device's first check of a UTC day adds it to its build's count;
 * a later check the same day with another build moves it. Serialised per
 * device, so concurrent checks of one device count it once.
 */
export async function recordDeviceBuild(
  tx: Queryable,
  r: Omit<DeviceBuildRecord, "receivedAt"> & { at: Date },
): Promise<void> {
  await tx.query(
    "SELECT pg_advisory_xact_lock(hashtext('phonehome.device_builds.' || current_schema() || '.' || $1))",
    [r.deviceKey],
  );
  const { rows } = await tx.query<{ day: string; build: string; batch: string; market: string }>(
    `SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, data->>'build' AS build, batch, market
       FROM device_builds WHERE device_key = $1`,
    [r.deviceKey],
  );
  const previous = rows[0];
  const day = r.at.toISOString().slice(0, 10);
  const add = async (build: string, batch: string, market: string) => {
    await tx.query(
      `INSERT INTO adoption_daily (day, batch, market, build, devices) VALUES ($1, $2, $3, $4, 1)
       ON CONFLICT (day, batch, market, build) DO UPDATE SET devices = adoption_daily.devices + 1`,
      [day, batch, market, build],
    );
  };
  // An UPDATE, not an upsert of -1: the check on `devices` would refuse the proposed row first.
  const remove = async (build: string, batch: string, market: string) => {
    await tx.query(
      `UPDATE adoption_daily SET devices = devices - 1
        WHERE day = $1 AND batch = $2 AND market = $3 AND build = $4 AND devices > 0`,
      [day, batch, market, build],
    );
  };
  if (previous === undefined || previous.day < day) {
    await add(r.build, r.batch, r.market);
  } else if (previous.build !== r.build) {
    await remove(previous.build, previous.batch, previous.market);
    await add(r.build, r.batch, r.market);
  }
  await tx.query(
    `INSERT INTO device_builds (device_key, batch, market, schema_version, data, received_at, expires_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
     ON CONFLICT (device_key) DO UPDATE SET batch = EXCLUDED.batch, market = EXCLUDED.market,
       schema_version = EXCLUDED.schema_version, data = EXCLUDED.data, received_at = EXCLUDED.received_at,
       expires_at = EXCLUDED.expires_at`,
    [
      r.deviceKey,
      r.batch,
      r.market,
      r.schemaVersion,
      JSON.stringify({ build: r.build }),
      r.at.toISOString(),
      r.expiresAt.toISOString(),
    ],
  );
}

/** The device's last reported build, or null. */
export async function findDeviceBuild(q: Queryable, deviceKey: string): Promise<DeviceBuildRecord | null> {
  const { rows } = await q.query<DeviceBuildRecord>(
    `SELECT device_key AS "deviceKey", batch, market, schema_version AS "schemaVersion", data->>'build' AS build,
            received_at AS "receivedAt", expires_at AS "expiresAt"
       FROM device_builds WHERE device_key = $1`,
    [deviceKey],
  );
  const [row] = rows;
  return row === undefined
    ? null
    : { ...row, receivedAt: new Date(row.receivedAt), expiresAt: new Date(row.expiresAt) };
}

/** Deletes the device's last reported build (erasure); returns what was deleted, or null. */
export async function eraseDeviceBuild(
  tx: Queryable,
  deviceKey: string,
): Promise<{ expiresAt: Date } | null> {
  const { rows } = await tx.query<{ expiresAt: Date }>(
    `DELETE FROM device_builds WHERE device_key = $1 RETURNING expires_at AS "expiresAt"`,
    [deviceKey],
  );
  const [row] = rows;
  return row === undefined ? null : { expiresAt: new Date(row.expiresAt) };
}

/** The day counts from `since` (a UTC date, inclusive), oldest first. */
export async function adoptionSince(q: Queryable, since: string): Promise<AdoptionRow[]> {
  const { rows } = await q.query<AdoptionRow>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, batch, market, build, devices
       FROM adoption_daily WHERE day >= $1::date AND devices > 0 ORDER BY day, batch, market, build`,
    [since],
  );
  return rows;
}
