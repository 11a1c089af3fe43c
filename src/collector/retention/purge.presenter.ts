/** How `phonehome purge` shows a plan and a result: plain lines for people, JSON for scripts. */
import type { PurgePlan, PurgeResult, PurgeStep, SurgicalRequest, TableTotals } from "./purge.service.ts";

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A line per table the region's list says expires, in the list's order. */
function tableLines(tables: Record<string, TableTotals>): string[] {
  return Object.entries(tables).map(([name, t]) => {
    const partitions = t.partitions.length === 0 ? "" : `; whole partitions: ${t.partitions.join(", ")}`;
    return `  ${name.padEnd(19)} ${plural(t.rows, "row")}; a field removed from ${plural(t.fields, "row")}${partitions}`;
  });
}

function stepLine(step: PurgeStep & { removed?: number }): string | null {
  if (step.action !== "remove-field") return null;
  const version = step.version === undefined ? "every version" : `v${step.version}`;
  return `    field ${step.field ?? ""} of ${step.collection ?? ""} ${version}: ${plural(step.removed ?? step.due, "row")}`;
}

/** The heading: which purge, of which region, against which instant or window. */
export function formatHeading(
  region: string,
  plan: PurgePlan,
  dryRun: boolean,
  surgical: SurgicalRequest | undefined,
): string[] {
  const dry = dryRun ? " (dry run: nothing is removed)" : "";
  if (surgical === undefined) {
    return [`retention purge of region ${region} as of ${plan.asOf.toISOString()}${dry}`];
  }
  const what = surgical.field === undefined ? "rows" : `field ${surgical.field}`;
  const version = surgical.version === undefined ? "every version" : `v${surgical.version}`;
  return [
    `surgical purge of region ${region}: ${what} of ${surgical.collection} ${version}, ` +
      `received from ${surgical.from.toISOString()} to ${surgical.to.toISOString()}${dry}`,
    `reason: ${surgical.reason.trim()}`,
  ];
}

/** What is due, per table, with the fields past their own retention. */
export function formatPlan(plan: PurgePlan): string[] {
  const fields = plan.steps.filter((s) => s.due > 0).flatMap((s) => stepLine(s) ?? []);
  return ["due:", ...tableLines(plan.tables), ...fields];
}

/** What was removed (or would be, in a dry run), and the record. */
export function formatResult(result: PurgeResult): string[] {
  const fields = result.steps.filter((s) => s.removed > 0).flatMap((s) => stepLine(s) ?? []);
  const skipped = result.steps
    .filter((s) => s.skipped)
    .map(
      (s) => `  ${s.partition ?? ""} was skipped: ${s.skippedBecause ?? "busy; it is left for the next run"}`,
    );
  return [
    result.dryRun ? "would remove (dry run):" : "removed:",
    ...tableLines(result.tables),
    ...fields,
    ...skipped,
    `recorded as purge run ${result.runId}${result.dryRun ? " (dry run)" : ""}: ${plural(result.removed, "row")}, sha256 ${result.sha256}`,
  ];
}

/** The JSON `--json` prints: the plan and the result, instants as RFC 3339. */
export function toJson(region: string, plan: PurgePlan, result: PurgeResult): Record<string, unknown> {
  return {
    region,
    plan: { ...plan, asOf: plan.asOf.toISOString() },
    result: { ...result, asOf: result.asOf.toISOString() },
  };
}
