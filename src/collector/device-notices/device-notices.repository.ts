/**
 * A region's notices of incidents and their delivery to devices. One function
 * per query; the caller passes the database or a transaction. Device lists
 * travel as one JSON parameter.
 */
import type { NoticeDelivery } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** How long a delivered notice is still given again at check-ins: an answer lost on the way is made good. */
export const REDELIVER_FOR_MS = 7 * 86_400_000;

/** A notice as a device receives it. */
export interface DeviceNotice {
  id: string;
  incident: string;
  title: string;
  body: string;
  sentAt: string;
}

/**
 * Keeps a notice and the devices it is for; a notice or device already kept
 * is left as it is (the control plane may hand the same list over again).
 * Answers how many devices of this region the notice is now for.
 */
export async function saveNotice(
  tx: Queryable,
  notice: DeviceNotice,
  deviceKeys: readonly string[],
  expiresAt: Date,
): Promise<number> {
  await tx.query(
    `INSERT INTO incident_notices (id, incident, title, body, sent_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [notice.id, notice.incident, notice.title, notice.body, notice.sentAt],
  );
  await tx.query(
    `INSERT INTO notice_deliveries (device_key, notice, expires_at)
     SELECT k, $1, $3::timestamptz FROM jsonb_array_elements_text($2::jsonb) AS k ORDER BY k
     ON CONFLICT (device_key, notice) DO NOTHING`,
    [notice.id, JSON.stringify(deviceKeys), expiresAt.toISOString()],
  );
  const { rows } = await tx.query<{ n: number }>(
    "SELECT count(*)::integer AS n FROM notice_deliveries WHERE notice = $1",
    [notice.id],
  );
  return rows[0]?.n ?? 0;
}

/**
 * The notices a device gets in the answer to its check-in: those it has not
 * had yet, marked delivered now, and those delivered since `redeliverSince`
 * (an answer lost on the way is made good by the next check-in; the SDK shows
 * a notice once). Oldest first.
 */
export async function takeNotices(
  tx: Queryable,
  deviceKey: string,
  now: Date,
  redeliverSince: Date,
): Promise<DeviceNotice[]> {
  // One statement: the outer SELECT sees the rows as they were, so those the UPDATE marks now are added by id.
  const { rows } = await tx.query<DeviceNotice & { sentAt: Date }>(
    `WITH given AS (
       UPDATE notice_deliveries SET delivered_at = $2
        WHERE device_key = $1 AND delivered_at IS NULL
       RETURNING notice)
     SELECT n.id, n.incident, n.title, n.body, n.sent_at AS "sentAt"
       FROM notice_deliveries d JOIN incident_notices n ON n.id = d.notice
      WHERE d.device_key = $1 AND (d.delivered_at >= $3 OR d.notice IN (SELECT notice FROM given))
      ORDER BY n.sent_at, n.id`,
    [deviceKey, now.toISOString(), redeliverSince.toISOString()],
  );
  return rows.map((r) => ({ ...r, sentAt: new Date(r.sentAt).toISOString() }));
}

/** Delivery counts of an incident's notices in this region. */
export async function noticeDeliveries(q: Queryable, incident: string): Promise<NoticeDelivery[]> {
  const { rows } = await q.query<{
    notice: string;
    devices: number;
    delivered: number;
    first: Date | null;
    last: Date | null;
  }>(
    `SELECT n.id AS notice, count(d.device_key)::integer AS devices,
            count(d.delivered_at)::integer AS delivered,
            min(d.delivered_at) AS first, max(d.delivered_at) AS last
       FROM incident_notices n LEFT JOIN notice_deliveries d ON d.notice = n.id
      WHERE n.incident = $1 GROUP BY n.id ORDER BY n.id`,
    [incident],
  );
  const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  return rows.map((r) => ({
    notice: r.notice,
    devices: r.devices,
    delivered: r.delivered,
    firstDeliveredAt: iso(r.first),
    lastDeliveredAt: iso(r.last),
  }));
}

/** Every notice a device was sent, with when it was delivered (null: not yet), for the owner's access export. */
export async function findDeviceNotices(
  q: Queryable,
  deviceKey: string,
): Promise<(DeviceNotice & { deliveredAt: string | null; expiresAt: string })[]> {
  const { rows } = await q.query<DeviceNotice & { sentAt: Date; deliveredAt: Date | null; expiresAt: Date }>(
    `SELECT n.id, n.incident, n.title, n.body, n.sent_at AS "sentAt", d.delivered_at AS "deliveredAt",
            d.expires_at AS "expiresAt"
       FROM notice_deliveries d JOIN incident_notices n ON n.id = d.notice
      WHERE d.device_key = $1 ORDER BY n.sent_at, n.id`,
    [deviceKey],
  );
  return rows.map((r) => ({
    ...r,
    sentAt: new Date(r.sentAt).toISOString(),
    deliveredAt: r.deliveredAt === null ? null : new Date(r.deliveredAt).toISOString(),
    expiresAt: new Date(r.expiresAt).toISOString(),
  }));
}
