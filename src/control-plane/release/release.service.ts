/**
 * Builds and their release: which variant a release is for, named as
 * operators name it; registering a build with its SBOM (the gate runs and its
 * verdict is kept); releasing it only when the gate passed it, or forced with
 * a reason.
 */
import type { GateFinding, ReleaseBuild } from "@phonehome/shared";
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import { createHash } from "node:crypto";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { listVariants } from "../fleet/index.ts";
import {
  type BuildManifestRecord,
  findBuildManifest,
  markBuildReleased,
  saveBuildManifest,
} from "./builds.repository.ts";
import { checkRelease, type GateContext, type ReleaseTarget, type Verdict } from "./gate.ts";
import { verdictJson } from "./release.presenter.ts";
import { readSbom } from "./sbom.ts";

/** A registered variant, as the fleet registry lists it. */
export interface VariantRow {
  model: string;
  id: string;
  region: string;
}

/**
 * Finds the variant `variant` (`00WW`, or `TA-1062/00WW`) of `model` (when
 * given) among the registered ones; throws `fleet.not_found` when there is
 * none, `release.variant_ambiguous` when several models have one of that id.
 */
export function resolveTarget(
  variants: readonly VariantRow[],
  variant: string,
  model?: string,
): ReleaseTarget {
  const slash = variant.indexOf("/");
  const wantedModel = slash === -1 ? model : variant.slice(0, slash);
  const wantedId = slash === -1 ? variant : variant.slice(slash + 1);
  if (slash !== -1 && model !== undefined && model !== wantedModel) {
    throw new PhoneHomeError(
      "release.variant_ambiguous",
      `--variant names model ${wantedModel}, --model ${model}`,
      {
        path: "--model",
      },
    );
  }
  const matches = variants.filter(
    (v) => v.id === wantedId && (wantedModel === undefined || v.model === wantedModel),
  );
  const [only] = matches;
  if (only === undefined) {
    const known = variants.map((v) => `${v.model}/${v.id}`).join(", ") || "none";
    throw new PhoneHomeError(
      "fleet.not_found",
      `no variant ${wantedModel === undefined ? "" : `${wantedModel}/`}${wantedId} is registered (registered: ${known})`,
      { path: "--variant" },
    );
  }
  if (matches.length > 1) {
    throw new PhoneHomeError(
      "release.variant_ambiguous",
      `variant ${wantedId} exists for models ${matches.map((m) => m.model).join(", ")}: name one with MODEL/${wantedId} or --model`,
      { path: "--variant" },
    );
  }
  return { model: only.model, variant: only.id, region: only.region };
}

/** What registering and releasing builds need. */
export interface BuildContext {
  db: Db;
  /** What the gate checks against now (collector URLs may be learnt after start). */
  gate: () => GateContext;
  clock?: () => Date;
}

/** Shapes a build for the API. */
export function presentBuildManifest(b: BuildManifestRecord): ReleaseBuild {
  return {
    number: b.number,
    model: b.model,
    variant: b.variant,
    lineage: b.lineage,
    releasedAt: b.releasedAt?.toISOString() ?? null,
    manifest:
      b.verdict === null || b.sbomSha256 === null || b.checkedAt === null
        ? null
        : {
            sbomSha256: b.sbomSha256,
            checkedAt: b.checkedAt.toISOString(),
            passed: b.verdict.passed,
            // Stored as the gate's JSON report wrote them (`verdictJson`).
            findings: b.verdict.findings as GateFinding[],
          },
    releaseForced: b.releaseForced,
  };
}

/** Runs the gate on an SBOM for a variant named as operators name it. */
export async function checkSbom(
  ctx: BuildContext,
  sbomText: string,
  variant: string,
  model?: string,
): Promise<Verdict> {
  const sbom = await readSbom(sbomText);
  const target = resolveTarget(await listVariants(ctx.db), variant, model);
  return checkRelease(sbom, target, ctx.gate());
}

/**
 * Registers build `number` of `model`/`variant` with its SBOM: the gate runs,
 * and the manifest, its digest and the verdict are kept. A build already
 * registered (by a factory file, say) gets its manifest if it is of the same
 * variant and not yet released.
 */
export async function registerBuild(
  ctx: BuildContext,
  number: string,
  body: { model: string; variant: string; lineage: string; sbom: unknown },
): Promise<{ build: ReleaseBuild; verdict: Verdict }> {
  const text = JSON.stringify(body.sbom);
  const verdict = await checkSbom(ctx, text, `${body.model}/${body.variant}`);
  const now = (ctx.clock ?? (() => new Date()))();
  const build = await ctx.db.transaction(async (tx) => {
    const existing = await findBuildManifest(tx, number, true);
    if (existing !== null && (existing.model !== body.model || existing.variant !== body.variant)) {
      throw new PhoneHomeError(
        "request.invalid",
        `build ${number} is registered for ${existing.model}/${existing.variant}, not ${body.model}/${body.variant}`,
        { path: "/variant" },
      );
    }
    if (existing?.releasedAt) {
      throw new PhoneHomeError(
        "release.already_released",
        `build ${number} was released at ${existing.releasedAt.toISOString()}; its manifest can no longer change`,
      );
    }
    await saveBuildManifest(tx, {
      number,
      model: body.model,
      variant: body.variant,
      lineage: body.lineage,
      sbom: body.sbom,
      sbomSha256: createHash("sha256").update(text).digest("hex"),
      verdict: verdictJson(verdict),
      checkedAt: now,
    });
    await appendAudit(
      tx,
      {
        actor: currentActor(),
        action: "release.checked",
        subject: number,
        reason: null,
        detail: {
          variant: `${body.model}/${body.variant}`,
          passed: verdict.passed,
          findings: [...new Set(verdict.findings.map((f) => f.code))].sort(),
        },
      },
      now,
    );
    const saved = await findBuildManifest(tx, number);
    if (saved === null) throw new Error(`build ${number} vanished while it was saved`);
    return saved;
  });
  return { build: presentBuildManifest(build), verdict };
}

/**
 * Releases a build to its variant's devices. Refused with `release.unchecked`
 * when it has no manifest, and with `release.blocked` (every finding listed)
 * when the gate blocked it — unless `force` gives a reason, which is kept.
 */
export async function releaseBuild(
  ctx: BuildContext,
  number: string,
  force?: { reason: string },
): Promise<ReleaseBuild> {
  const now = (ctx.clock ?? (() => new Date()))();
  return ctx.db.transaction(async (tx) => {
    const build = await findBuildManifest(tx, number, true);
    if (build === null) throw new PhoneHomeError("fleet.not_found", `no build ${number} is registered`);
    if (build.releasedAt !== null) return presentBuildManifest(build);
    if (build.verdict === null) {
      throw new PhoneHomeError(
        "release.unchecked",
        `build ${number} has no manifest: register its SBOM (PUT /v1/builds/${number}) so the gate can check it`,
      );
    }
    const findings = build.verdict.findings as GateFinding[];
    if (!build.verdict.passed && force === undefined) {
      throw new PhoneHomeError(
        "release.blocked",
        `the release gate blocked build ${number} for ${build.model}/${build.variant}: ${findings.length} reason${findings.length === 1 ? "" : "s"}`,
        {
          path: "/force",
          problems: findings.map((f) => ({ path: f.pointer, message: `${f.code}: ${f.message}` })),
        },
      );
    }
    const forced = build.verdict.passed ? null : { reason: force?.reason ?? "", findings: findings.length };
    await markBuildReleased(tx, number, now, forced);
    await appendAudit(
      tx,
      {
        actor: currentActor(),
        action: forced === null ? "release.released" : "release.forced",
        subject: number,
        reason: forced?.reason ?? null,
        detail: { variant: `${build.model}/${build.variant}`, findings: findings.length },
      },
      now,
    );
    return presentBuildManifest({ ...build, releasedAt: now, releaseForced: forced });
  });
}
