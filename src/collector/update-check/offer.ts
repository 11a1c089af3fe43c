/**
 * Which update a device is offered: the newest released build of its own
 * variant and lineage that is newer than what it runs, not withdrawn, and open
 * to it under its rollout. Never another variant's build, never a downgrade.
 * A pure function of the update plan, so every region answers alike.
 */
import { createHash } from "node:crypto";
import type { PlanBuild, UpdatePlan } from "@phonehome/shared";

export type { PlanBuild, PlanRollout, UpdatePlan } from "@phonehome/shared";

/** The device asking, as the fleet registry knows it. */
export interface AskingDevice {
  /** The key id its records are kept under (its factory key's): a re-key keeps it in its cohort. */
  deviceKey: string;
  model: string;
  variant: string;
}

/** The answer: a build to install, or none, and why. */
export type UpdateOffer =
  | { update: { build: string; lineage: string; rollout: number | null }; reason: "newer build" }
  | {
      update: null;
      reason:
        | "up to date"
        | "unknown build"
        | "build of another variant"
        | "build without lineage"
        | "build never released"
        | "not in the rollout yet";
    };

/** The device's bucket in a rollout, 0-99: fixed for the device and rollout, independent across rollouts. */
export function cohortOf(rolloutId: number, deviceKey: string): number {
  return createHash("sha256").update(`${rolloutId}\u0000${deviceKey}`).digest().readUInt32BE(0) % 100;
}

/** Whether a released build is open to the device now, under its rollout (none: open to every device). */
function openTo(build: PlanBuild, device: AskingDevice): boolean {
  const rollout = build.rollout;
  if (rollout === null || rollout.state === "complete") return true;
  if (rollout.state !== "active") return false;
  return cohortOf(rollout.id, device.deviceKey) < rollout.percentage;
}

/** Chooses the update for a device that runs `installed`. */
export function chooseUpdate(plan: UpdatePlan, device: AskingDevice, installed: string): UpdateOffer {
  const current = plan.builds.find((b) => b.number === installed);
  if (current === undefined) return { update: null, reason: "unknown build" };
  if (current.model !== device.model || current.variant !== device.variant) {
    return { update: null, reason: "build of another variant" };
  }
  if (current.lineage === null) return { update: null, reason: "build without lineage" };
  if (current.releasedAt === null) return { update: null, reason: "build never released" };
  const since = Date.parse(current.releasedAt);
  const newer = plan.builds
    .filter(
      (b) =>
        b.model === device.model &&
        b.variant === device.variant &&
        b.lineage === current.lineage &&
        b.releasedAt !== null &&
        !b.withdrawn &&
        Date.parse(b.releasedAt) > since,
    )
    .sort((a, b) => Date.parse(b.releasedAt ?? "") - Date.parse(a.releasedAt ?? ""));
  if (newer.length === 0) return { update: null, reason: "up to date" };
  const chosen = newer.find((b) => openTo(b, device));
  if (chosen === undefined) return { update: null, reason: "not in the rollout yet" };
  return {
    update: { build: chosen.number, lineage: current.lineage, rollout: chosen.rollout?.id ?? null },
    reason: "newer build",
  };
}
