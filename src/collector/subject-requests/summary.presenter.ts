/**
 * The readable side of an access request: what a region holds about a device,
 * in plain language (Markdown), made from the same export the owner can
 * download, so the two cannot disagree.
 */
import { type AccessExport, basisArticle, basisWords, transformWords } from "@phonehome/shared";

/** A lawful basis as the summary writes it: in the owner's words, with its article. */
function basisLine(name: string): string {
  const article = basisArticle(name);
  return article === null ? basisWords(name) : `${basisWords(name)}; ${article}`;
}

const day = (iso: string) => iso.slice(0, 10);

/** The country's English name, e.g. `SG` → Singapore. */
function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(["en"], { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** Renders an access export as Markdown for a person to read. */
export function presentSummary(data: AccessExport): string {
  const lines = [
    `# What region ${data.region} holds about your device`,
    "",
    `Stored in ${countryName(data.storedIn)} (${data.storedIn}). Made on ${day(data.generatedAt)}.`,
    "",
  ];
  const byCollection = new Map<string, AccessExport["records"]>();
  for (const r of data.records)
    byCollection.set(r.collection, [...(byCollection.get(r.collection) ?? []), r]);
  if (byCollection.size === 0 && data.consents.consents.length === 0 && data.notices.length === 0) {
    lines.push("This region holds nothing about your device.", "");
  }
  for (const [collection, records] of byCollection) {
    const first = records[0];
    if (!first) continue;
    const latest = records.reduce((a, r) => (r.expiresAt > a ? r.expiresAt : a), first.expiresAt);
    lines.push(
      `## ${collection}: ${records.length} ${records.length === 1 ? "record" : "records"}`,
      "",
      first.description,
      "",
      `- Why: ${first.purpose}.`,
      `- Legal basis: ${basisLine(first.legalBasis)}.`,
      `- Deleted by ${day(latest)} at the latest.`,
    );
    for (const [name, value] of Object.entries(first.facts)) {
      if (records.length === 1) lines.push(`- ${name}: ${value}`);
    }
    lines.push("- What is kept:");
    for (const f of first.fields) {
      lines.push(`  - ${f.name} (${f.dataCategory}), ${transformWords(f.transform)}, kept ${f.retention}`);
    }
    lines.push("");
  }
  if (data.consents.consents.length > 0) {
    lines.push("## Your consents", "");
    for (const c of data.consents.consents) {
      const answer = c.granted ? "yes" : "no";
      const state = c.granted && !c.valid ? " (given under an older notice: asked again)" : "";
      lines.push(
        `- ${c.purpose}: ${answer} since ${day(c.decidedAt)}, notice version ${c.noticeVersion}${state}.`,
      );
    }
    lines.push(
      "",
      `The receipts of every decision (${data.consents.history.length}) are kept as proof of consent; they are in the export.`,
      "",
    );
  }
  if (data.notices.length > 0) {
    lines.push("## Notices we sent you", "");
    for (const n of data.notices) {
      const got = n.deliveredAt === null ? "not yet delivered" : `delivered ${day(n.deliveredAt)}`;
      lines.push(
        `- ${day(n.sentAt)}, about incident ${n.incident}: ${n.title} (${got}; kept until ${day(n.expiresAt)}).`,
      );
    }
    lines.push(
      "",
      "We keep each notice and when your device got it, as proof you were told; they are in the export.",
      "",
    );
  }
  return lines.join("\n");
}
