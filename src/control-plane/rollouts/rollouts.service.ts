/**
 * Staged rollouts on the control plane. A released build goes out in stages
 * (percentages of its variant's devices, each device in a fixed cohort); an
 * operator advances, pauses and resumes; a stage halts by itself when the
 * failures reported in it reach the rollout's threshold. A withdrawn build is
 * never offered again. Outcome reports are counted per stage, once per
 * report, and name no device.
 */
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { findBuildManifest } from "../release/index.ts";
import type { Rollout, UpdatePlan } from "@phonehome/shared";
import {
  countReport,
  findOpenRollout,
  findRollout,
  insertRollout,
  isWithdrawn,
  listRollouts,
  outcomesOf,
  readUpdatePlan,
  type RolloutRecord,
  updateRollout,
  withdrawBuildRow,
} from "./rollouts.repository.ts";

/** What rollouts need. */
export interface RolloutContext {
  db: Db;
  clock?: () => Date;
}

const now = (ctx: RolloutContext) => (ctx.clock ?? (() => new Date()))();

async function view(ctx: RolloutContext, r: RolloutRecord): Promise<Rollout> {
  return {
    id: r.id,
    build: r.build,
    stages: r.stages,
    stage: r.stage,
    percentage: r.stages[r.stage] ?? 100,
    state: r.state,
    failureThreshold: r.failureThreshold,
    minReports: r.minReports,
    haltedReason: r.haltedReason,
    outcomes: await outcomesOf(ctx.db, r.id),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** One rollout; `fleet.not_found` when there is none. */
export async function getRollout(ctx: RolloutContext, id: number): Promise<Rollout> {
  const r = await findRollout(ctx.db, id);
  if (r === null) throw new PhoneHomeError("fleet.not_found", `no rollout ${id}`);
  return view(ctx, r);
}

/** The latest rollouts, newest first. */
export async function rollouts(ctx: RolloutContext, limit = 200): Promise<Rollout[]> {
  return Promise.all((await listRollouts(ctx.db, limit)).map((r) => view(ctx, r)));
}

/** Starts a staged rollout of a released, not withdrawn build. */
export async function startRollout(
  ctx: RolloutContext,
  request: { build: string; stages: number[]; failureThreshold: number; minReports: number },
): Promise<Rollout> {
  const { stages } = request;
  const rising = stages.every((p, i) => i === 0 || p > (stages[i - 1] ?? 0));
  if (stages.length === 0 || !rising || stages.at(-1) !== 100) {
    throw new PhoneHomeError(
      "request.invalid",
      "stages must be rising percentages ending at 100, e.g. [1, 10, 50, 100]",
      {
        path: "/stages",
      },
    );
  }
  const r = await ctx.db.transaction(async (tx) => {
    const build = await findBuildManifest(tx, request.build, true);
    if (build === null)
      throw new PhoneHomeError("fleet.not_found", `no build ${request.build} is registered`);
    if (build.releasedAt === null) {
      throw new PhoneHomeError(
        "rollout.invalid",
        `build ${request.build} is not released; release it first`,
        {
          path: "/build",
        },
      );
    }
    if (build.lineage === null) {
      throw new PhoneHomeError(
        "rollout.invalid",
        `build ${request.build} has no lineage: register its manifest`,
        {
          path: "/build",
        },
      );
    }
    const withdrawn = await isWithdrawn(tx, request.build);
    if (withdrawn)
      throw new PhoneHomeError("rollout.invalid", `build ${request.build} is withdrawn`, { path: "/build" });
    if ((await findOpenRollout(tx, request.build)) !== null) {
      throw new PhoneHomeError("rollout.invalid", `build ${request.build} already has a rollout under way`, {
        path: "/build",
      });
    }
    const r = await insertRollout(tx, { ...request, at: now(ctx) });
    await audit(tx, ctx, "rollout.started", r.id, null, {
      build: r.build,
      stages: r.stages,
      failureThreshold: r.failureThreshold,
      minReports: r.minReports,
    });
    return r;
  });
  return view(ctx, r);
}

/** An operator's step: advance to the next stage, pause, or resume a paused or halted rollout. */
export async function stepRollout(
  ctx: RolloutContext,
  id: number,
  action: "advance" | "pause" | "resume",
): Promise<Rollout> {
  const r = await ctx.db.transaction(async (tx) => {
    const r = await findRollout(tx, id, true);
    if (r === null) throw new PhoneHomeError("fleet.not_found", `no rollout ${id}`);
    const refuse = (why: string) =>
      new PhoneHomeError("rollout.invalid", `rollout ${id} ${why}`, { path: "/action" });
    if (r.state === "complete") throw refuse("is complete");
    let next: Pick<RolloutRecord, "stage" | "state" | "haltedReason">;
    if (action === "advance") {
      if (r.state !== "active") throw refuse(`is ${r.state}: resume it before advancing`);
      const stage = Math.min(r.stage + 1, r.stages.length - 1);
      next = { stage, state: stage === r.stages.length - 1 ? "complete" : "active", haltedReason: null };
    } else if (action === "pause") {
      if (r.state !== "active") throw refuse(`is ${r.state}, not active`);
      next = { stage: r.stage, state: "paused", haltedReason: r.haltedReason };
    } else {
      if (r.state === "active") throw refuse("is already active");
      if (await isWithdrawn(tx, r.build)) throw refuse(`cannot resume: build ${r.build} is withdrawn`);
      next = { stage: r.stage, state: "active", haltedReason: null };
    }
    const { stage, state, haltedReason } = next;
    await updateRollout(tx, id, { stage, state, haltedReason, at: now(ctx) });
    await audit(
      tx,
      ctx,
      `rollout.${action === "advance" ? "advanced" : action === "pause" ? "paused" : "resumed"}`,
      id,
      null,
      {
        build: r.build,
        stage,
        percentage: r.stages[stage] ?? 100,
        state,
      },
    );
    return { ...r, stage, state, haltedReason };
  });
  return view(ctx, r);
}

/**
 * Counts one device's outcome of installing `build` (once per event id) in
 * the current stage of the build's rollout, and halts the rollout when the
 * stage's failures reach its threshold. A build without a rollout has no
 * stage to count in: the report is accepted and not counted.
 */
export async function recordOutcome(
  ctx: RolloutContext,
  report: { eventId: string; build: string; outcome: "installed" | "failed" },
): Promise<{ counted: boolean; rollout: number | null; halted: boolean }> {
  return ctx.db.transaction(async (tx) => {
    const r = await findOpenRollout(tx, report.build, true);
    if (r === null) return { counted: false, rollout: null, halted: false };
    const at = now(ctx);
    const counted = await countReport(tx, {
      eventId: report.eventId,
      rollout: r.id,
      stage: r.stage,
      outcome: report.outcome,
      at,
    });
    if (!counted || r.state !== "active") return { counted, rollout: r.id, halted: false };
    const stage = (await outcomesOf(tx, r.id)).find((o) => o.stage === r.stage);
    const total = (stage?.installed ?? 0) + (stage?.failed ?? 0);
    const share = total === 0 ? 0 : (stage?.failed ?? 0) / total;
    if (total < r.minReports || share < r.failureThreshold) return { counted, rollout: r.id, halted: false };
    const reason = `stage ${r.stage + 1} (${r.stages[r.stage]} %): ${stage?.failed} of ${total} installs failed (${Math.round(share * 100)} %, threshold ${Math.round(r.failureThreshold * 100)} %)`;
    await updateRollout(tx, r.id, { stage: r.stage, state: "halted", haltedReason: reason, at });
    await appendAudit(
      tx,
      {
        actor: "system:rollouts",
        action: "rollout.halted",
        subject: String(r.id),
        reason,
        detail: { build: r.build },
      },
      at,
    );
    return { counted, rollout: r.id, halted: true };
  });
}

/** Withdraws a build: it is never offered again, and its rollout under way halts. */
export async function withdrawBuild(ctx: RolloutContext, number: string, reason: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const build = await findBuildManifest(tx, number, true);
    if (build === null) throw new PhoneHomeError("fleet.not_found", `no build ${number} is registered`);
    const at = now(ctx);
    await withdrawBuildRow(tx, number, reason, at);
    await appendAudit(
      tx,
      { actor: currentActor(), action: "build.withdrawn", subject: number, reason, detail: {} },
      at,
    );
    const r = await findOpenRollout(tx, number, true);
    if (r !== null)
      await updateRollout(tx, r.id, {
        stage: r.stage,
        state: "halted",
        haltedReason: `withdrawn: ${reason}`,
        at,
      });
  });
}

/** The plan regions answer update checks from. */
export async function updatePlan(ctx: RolloutContext): Promise<UpdatePlan> {
  return { builds: await readUpdatePlan(ctx.db) };
}

/** Records an operator's rollout step in the audit log, in its transaction. */
function audit(
  tx: Queryable,
  ctx: RolloutContext,
  action: string,
  rollout: number,
  reason: string | null,
  detail: Record<string, unknown>,
): Promise<unknown> {
  return appendAudit(
    tx,
    { actor: currentActor(), action, subject: String(rollout), reason, detail },
    now(ctx),
  );
}
