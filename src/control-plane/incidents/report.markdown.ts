/** The regulator report of an incident rendered as Markdown, from the report report.ts gathers. */
import type { IncidentReport } from "./report.ts";

/** A Markdown table cell: no line breaks, pipes escaped. */
function cell(text: string | number | null): string {
  return String(text ?? "—")
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|");
}

function table(head: string[], rows: (string | number | null)[][]): string[] {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

const percent = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The report as Markdown, for people: the same facts as the JSON, in sections. */
export function reportMarkdown(r: IncidentReport): string {
  const i = r.incident;
  const out: string[] = [
    `# Incident report ${i.id}: ${i.title}`,
    "",
    `Generated ${r.generatedAt} by phonehome from the running system. Status: **${i.status}** (opened ${i.openedAt}` +
      `${i.source === "misrouting" ? " from the collectors' misrouting alerts" : " by an operator"}` +
      `${i.closedAt === null ? "" : `, closed ${i.closedAt}`}).`,
    "",
    i.description,
    "",
  ];
  if (r.unanswered.length > 0) {
    out.push(
      "> **Incomplete:** some regions did not answer; their figures are missing below, not zero.",
      ...r.unanswered.map((u) => `> - region ${u.region}, ${u.question}: ${u.reason}`),
      "",
    );
  }
  out.push(
    "## Timeline",
    "",
    ...table(
      ["When (UTC)", "What"],
      r.timeline.map((t) => [t.at, t.event]),
    ),
    "",
  );
  out.push(
    "## Devices and markets affected",
    "",
    `${r.devices.total} devices in ${r.devices.batches.length} batch(es), sold in ${r.devices.markets.map((m) => m.market).join(", ")}.`,
    "",
    ...table(
      ["Batch", "Build", "Market", "Home region", "Devices"],
      r.devices.batches.map((b) => [b.batch, b.build, b.market, b.region, b.devices]),
    ),
    "",
  );
  out.push("## Data involved", "");
  if (r.dataCategories.length === 0) out.push("No data category was named.");
  else out.push(...r.dataCategories.map((c) => `- \`${c.name}\`: ${c.description}`));
  out.push("", "## Where the data went", "");
  if (r.destinations.length === 0) out.push("No destination was named.");
  else
    out.push(
      ...table(
        ["Destination", "Kind", "Note"],
        r.destinations.map((d) => [d.name, d.kind, d.note]),
      ),
    );
  out.push(
    "",
    "## Was anything stored?",
    "",
    `From the ingest ledger of every region, ${r.window.since} to ${r.window.until}, for the affected batches` +
      `${i.scope.builds.length > 0 ? ` and builds ${i.scope.builds.join(", ")}` : ""}.`,
    "",
    r.storage.stored === 0
      ? `**Nothing was stored** in any region that answered: ${r.storage.refused} message(s) refused, ${r.storage.replayed} replayed.`
      : `**${r.storage.stored} message(s) were stored**, in ${r.storage.regions
          .filter((x) => x.stored > 0)
          .map((x) => `region ${x.region} (stored in ${x.storedIn})`)
          .join(", ")}; ${r.storage.refused} refused, ${r.storage.replayed} replayed.`,
    "",
    ...table(
      ["Region", "Stores data in", "Stored", "Replayed", "Refused", "Refusals by reason", "Collections"],
      r.storage.regions.map((x) => [
        x.region,
        x.storedIn,
        x.stored,
        x.replayed,
        x.refused,
        Object.entries(x.reasons)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ") || "—",
        x.collections.join(", ") || "—",
      ]),
    ),
    "",
    "## Misrouting alerts",
    "",
  );
  if (r.alerts.length === 0) out.push("No collector raised a misrouting alert for the affected batches.");
  else {
    out.push(
      ...table(
        ["Collector of", "Batch", "Build", "Market", "Belongs to", "First seen", "Last seen", "Refusals"],
        r.alerts.map((a) => [
          a.region,
          a.batch,
          a.build,
          a.market,
          a.expectedRegion,
          a.firstSeen,
          a.lastSeen,
          a.count,
        ]),
      ),
    );
  }
  out.push("", "## Measures taken", "", "### The release gate", "");
  out.push(
    ...table(
      ["Build", "Gate", "Findings", "Checked", "Released"],
      r.measures.builds.map((b) => [
        b.number,
        b.gate,
        b.findings.join(", ") || "—",
        b.checkedAt,
        b.releasedAt === null
          ? "not released"
          : `${b.releasedAt}${b.releaseForced === null ? "" : ` (forced: ${b.releaseForced})`}`,
      ]),
    ),
    "",
    "### The fix",
    "",
  );
  const a = r.measures.advisory;
  if (a === null) out.push("No advisory is linked to the incident yet.");
  else {
    out.push(
      `Advisory ${a.id}: ${a.title}. Fixed in ${a.fixes.map((f) => `${f.build} (lineage ${f.lineage}, released ${f.releasedAt})`).join("; ")}.`,
    );
  }
  const adoption = r.measures.adoption;
  if (adoption !== null) {
    out.push(
      "",
      "### Adoption so far",
      "",
      adoption.asOf === null
        ? "No affected device has checked in since the window began."
        : `As of ${adoption.asOf}: ${adoption.fixed} of ${adoption.devices} active affected devices run a fixed build (${percent(adoption.share)}).`,
      "",
      ...table(
        ["Batch", "Market", "Day", "Active devices", "On a fixed build", "Share"],
        adoption.batches.map((b) => [b.batch, b.market, b.day, b.devices, b.fixed, percent(b.share)]),
      ),
    );
  }
  out.push("", "## Notices to owners", "");
  if (r.notices.length === 0) out.push("No notice has been sent yet.");
  else {
    out.push(
      ...table(
        ["Notice", "Title", "Sent", "Devices", "Delivered"],
        r.notices.map((n) => [n.id, n.title, n.sentAt, n.devices, n.delivered]),
      ),
    );
  }
  return `${out.join("\n")}\n`;
}
