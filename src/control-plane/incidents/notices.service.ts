/**
 * Notices of an incident: sent to every affected device through its home
 * region, handed over again to a region that could not be reached, and their
 * delivery as the regions count it.
 */
import { type IncidentNotice, NOTICE_DEVICES_PER_CALL, type NoticeDelivery } from "@phonehome/shared";
import { currentActor } from "../../core/audit-log/index.ts";
import { callRegion, fromEveryRegion, type Gathered } from "../regions/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  incidentDeviceKeys,
  incidentNotices,
  type IncidentRecord,
  insertNotice,
  type NoticeRecord,
  setNoticeRegions,
} from "./incidents.repository.ts";
import { type IncidentContext, invalid, mustFind, recordStep } from "./incident-steps.ts";

export function presentNotice(n: NoticeRecord): IncidentNotice {
  return { id: n.id, title: n.title, body: n.body, sentAt: n.sentAt.toISOString(), regions: n.regions };
}

/** Each notice's delivery, summed over the regions that answered. */
export async function noticeDeliveries(
  ctx: IncidentContext,
  incident: string,
): Promise<{ gathered: Gathered<{ notices: NoticeDelivery[] }>; byNotice: Map<string, NoticeDelivery[]> }> {
  const gathered = await fromEveryRegion(ctx.regions(), (region) =>
    callRegion<{ notices: NoticeDelivery[] }>(
      region,
      ctx.serviceToken,
      "GET",
      `/v1/incident-notices?incident=${incident}`,
    ),
  );
  const byNotice = new Map<string, NoticeDelivery[]>();
  for (const answer of gathered.answers) {
    for (const n of answer.value.notices) {
      const counts = byNotice.get(n.notice);
      if (counts === undefined) byNotice.set(n.notice, [n]);
      else counts.push(n);
    }
  }
  return { gathered, byNotice };
}

/**
 * Hands a notice over to the home region of each of the incident's devices,
 * in lists the regions take whole, and records what each region answered. A
 * region that cannot be reached is recorded with why; handing over again
 * (`resendNotice`) reaches it, and devices that hold the notice keep it.
 */
async function handOver(
  ctx: IncidentContext,
  incident: IncidentRecord,
  notice: NoticeRecord,
): Promise<IncidentNotice> {
  const byRegion = new Map<string, string[]>();
  for (const d of await incidentDeviceKeys(ctx.db, incident.id)) {
    const region = ctx.regionOfMarket(d.market);
    const keys = byRegion.get(region);
    if (keys === undefined) byRegion.set(region, [d.keyId]);
    else keys.push(d.keyId);
  }
  const regions = new Map(ctx.regions().map((r) => [r.id, r]));
  const answered: NoticeRecord["regions"] = {};
  for (const [id, keys] of byRegion) {
    const at = new Date().toISOString();
    const region = regions.get(id);
    if (region === undefined) {
      answered[id] = { error: `region ${id} is not configured`, at };
      continue;
    }
    try {
      let devices = 0;
      for (let i = 0; i < keys.length; i += NOTICE_DEVICES_PER_CALL) {
        const answer = await callRegion<{ devices: number }>(
          region,
          ctx.serviceToken,
          "PUT",
          `/v1/incident-notices/${notice.id}`,
          {
            incident: incident.id,
            title: notice.title,
            body: notice.body,
            sentAt: notice.sentAt.toISOString(),
            devices: keys.slice(i, i + NOTICE_DEVICES_PER_CALL),
          },
        );
        devices = answer.devices;
      }
      answered[id] = { devices, at };
    } catch (error) {
      answered[id] = { error: (error as Error).message, at };
    }
  }
  await setNoticeRegions(ctx.db, notice.id, answered);
  return presentNotice({ ...notice, regions: { ...notice.regions, ...answered } });
}

/** Sends a notice to every device of an open incident (through their home regions); answers what each region took. */
export async function sendNotice(
  ctx: IncidentContext,
  id: string,
  text: { title: string; body: string },
  now = new Date(),
): Promise<IncidentNotice> {
  const { incident, notice } = await ctx.db.transaction(async (tx) => {
    const incident = await mustFind(tx, id, true);
    if (incident.closedAt !== null) throw invalid("/", `incident ${id} is closed; open a new one`);
    const noticeId = await insertNotice(tx, { incident: id, ...text, sentAt: now });
    await recordStep(tx, id, currentActor(), {
      at: now,
      kind: "notice",
      detail: { notice: noticeId, title: text.title },
    });
    const notice: NoticeRecord = { id: noticeId, incident: id, ...text, sentAt: now, regions: {} };
    return { incident, notice };
  });
  return handOver(ctx, incident, notice);
}

/** Hands a notice over again (after a region could not be reached); devices that hold it are not told twice. */
export async function resendNotice(
  ctx: IncidentContext,
  id: string,
  noticeId: string,
): Promise<IncidentNotice> {
  const incident = await mustFind(ctx.db, id);
  const notice = (await incidentNotices(ctx.db, id)).find((n) => n.id === noticeId);
  if (notice === undefined)
    throw new PhoneHomeError("incident.not_found", `incident ${id} has no notice ${noticeId}`);
  return handOver(ctx, incident, notice);
}
