/**
 * Incident notices between the control plane and a region's collector: the
 * ids, a notice as devices and owners see it, how many devices one hand-over
 * carries, and what a region reports of a notice's delivery (counts only).
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** An incident's id, `INC-<n>`, and a notice's, `INC-<n>-N<m>`. */
export const INCIDENT_ID = "^INC-[1-9][0-9]{0,9}$";
export const NOTICE_ID = "^INC-[1-9][0-9]{0,9}-N[1-9][0-9]{0,3}$";
/** A notice as devices and owners see it. */
export const DeviceNoticeView = T.Object({
  id: T.String(),
  incident: T.String(),
  title: T.String(),
  body: T.String(),
  sentAt: T.String({ format: "date-time" }),
});
/** A notice as devices and owners see it. */
export type DeviceNotice = Static<typeof DeviceNoticeView>;
/** Devices per hand-over; the control plane splits a longer list. */
export const NOTICE_DEVICES_PER_CALL = 1000;

/** What a region knows of one notice's delivery: counts only. */
export const NoticeDeliveryView = T.Object({
  notice: T.String(),
  devices: T.Integer(),
  delivered: T.Integer(),
  firstDeliveredAt: T.Union([T.String(), T.Null()]),
  lastDeliveredAt: T.Union([T.String(), T.Null()]),
});
/** What a region knows of one notice's delivery. */
export type NoticeDelivery = Static<typeof NoticeDeliveryView>;

/** `POST /v1/updates/check`: the build a device should install, why, and the notices of incidents for it. */
export const UpdateOfferView = T.Object({
  region: T.String(),
  update: T.Union([T.Object({ build: T.String(), lineage: T.String() }), T.Null()]),
  reason: T.String({
    description: "why this answer: newer build, up to date, not in the rollout yet, unknown build, ...",
  }),
  notices: T.Array(DeviceNoticeView, {
    description:
      "notices of incidents for this device: those not given before, and those given in the last 7 days (an answer lost on the way is made good); the SDK shows each once",
  }),
});
export type UpdateOffer = Static<typeof UpdateOfferView>;
