/**
 * Views of the data map: the Record of Processing Activities (GDPR Art. 30)
 * as CSV (one row per field) and Markdown (a section per activity), and a
 * fideslang YAML document (a dataset per region's store, the system with one
 * privacy declaration per collection version, and the taxonomy extensions it
 * uses) that Fides can load.
 */
import { stringify as csv } from "csv-stringify/sync";
import { stringify as yaml } from "yaml";
import { DATA_CATEGORIES, DATA_USES, type LegalBasis } from "../../core/dictionary/index.ts";
import type { DataMap, MapCollection, MapRegion } from "./datamap.ts";

const ARTICLE_6: Readonly<Record<LegalBasis, string>> = {
  consent: "consent, Art. 6(1)(a)",
  contract: "contract, Art. 6(1)(b)",
  legal_obligation: "legal obligation, Art. 6(1)(c)",
  vital_interests: "vital interests, Art. 6(1)(d)",
  public_task: "public task, Art. 6(1)(e)",
  legitimate_interests: "legitimate interests, Art. 6(1)(f)",
};

const FIDES_LEGAL_BASIS: Readonly<Record<LegalBasis, string>> = {
  consent: "Consent",
  contract: "Contract",
  legal_obligation: "Legal obligations",
  vital_interests: "Vital interests",
  public_task: "Public interest",
  legitimate_interests: "Legitimate interests",
};

/** What protects every collection, as built: the same for all. */
export const SECURITY_MEASURES =
  "sealed on the device to the home region's key (HPKE, RFC 9180) and signed by the device key; refused before opening anywhere but the home region; stored only there, minimised as each field declares (pseudonymised, coarsened or kept)";

const DATA_SUBJECTS = "owners and users of the devices";

/** Where data of the collection crosses a border: markets of a region whose store is in another country. */
function transfers(map: DataMap, c: MapCollection): string {
  const out: string[] = [];
  for (const r of c.regions) {
    const region = map.regions.find((x) => x.id === r.id);
    if (region === undefined) continue;
    const abroad = [...new Set([...region.markets, ...region.soldIn])].filter((m) => m !== r.storedIn).sort();
    // The default region takes every market not named: some of them are surely abroad.
    if (region.isDefault) abroad.push(`every other market but ${r.storedIn}`);
    if (abroad.length > 0) out.push(`${abroad.join(", ")} → ${r.storedIn} (region ${r.id})`);
  }
  return out.join("; ") || "none";
}

/** The ROPA as CSV: one row per field of every approved collection version. */
export function ropaCsv(map: DataMap): string {
  const rows = map.collections.flatMap((c) =>
    c.fields.map((f) => ({
      activity: c.name,
      version: c.version,
      activity_description: c.description,
      purpose: c.purpose,
      purpose_description: c.purposeDescription,
      legal_basis: ARTICLE_6[c.legalBasis],
      data_subjects: DATA_SUBJECTS,
      field: f.name,
      field_description: f.description,
      data_category: f.dataCategory,
      sensitivity: f.sensitivity,
      minimisation: f.transform,
      field_retention: f.retention,
      record_retention: c.retention,
      regions: f.regions.join(" "),
      stored_in: c.regions
        .filter((r) => f.regions.includes(r.id))
        .map((r) => r.storedIn)
        .join(" "),
      devices: c.devices.variants.join(" "),
      markets: c.devices.markets.join(" "),
      recipients: c.recipients.join("; "),
      transfers: transfers(map, c),
      approved_by: c.approval?.reviewer ?? "",
      approved_on: c.approval?.date ?? "",
      security_measures: SECURITY_MEASURES,
    })),
  );
  return csv(rows, { header: true, columns: rows[0] === undefined ? ["activity"] : Object.keys(rows[0]) });
}

/** The markets a region takes, in words. */
function marketsOf(r: MapRegion): string {
  const named = r.markets.join(", ");
  if (!r.isDefault) return named || "none";
  return named === "" ? "every market not named elsewhere" : `${named} and every market not named elsewhere`;
}

/** A Markdown table cell: no line breaks, pipes escaped. */
function cell(text: string | number): string {
  return String(text)
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|");
}

/** The ROPA as Markdown: the controller's record, a section per activity. */
export function ropaMarkdown(map: DataMap): string {
  const out = [
    "# Record of processing activities (GDPR Art. 30)",
    "",
    `Generated ${map.generatedAt} by phonehome from the approved data dictionary, the regions and the fleet registry.`,
    "",
    "## Regions",
    "",
    "| Region | Stores data in | Markets | Batches sold in | Variants |",
    "| --- | --- | --- | --- | --- |",
    ...map.regions.map(
      (r) =>
        `| ${r.id} | ${r.storedIn} | ${marketsOf(r)} | ${r.soldIn.join(", ") || "—"} | ${r.variants.join(", ") || "—"} |`,
    ),
    "",
  ];
  for (const c of map.collections) {
    out.push(
      `## ${c.name} v${c.version}`,
      "",
      cell(c.description),
      "",
      "| | |",
      "| --- | --- |",
      `| Purpose | ${cell(c.purpose)}: ${cell(c.purposeDescription)} |`,
      `| Legal basis | ${ARTICLE_6[c.legalBasis]} |`,
      `| Data subjects | ${DATA_SUBJECTS} |`,
      `| Devices | ${cell(c.devices.variants.join(", ") || "—")}; sold in ${cell(c.devices.markets.join(", ") || "—")} |`,
      `| Stored in | ${c.regions.map((r) => `region ${r.id} (${r.storedIn})`).join(", ")} |`,
      `| Kept for | ${c.retention} (a field may be kept shorter: below) |`,
      `| Recipients | ${cell(c.recipients.join("; "))} |`,
      `| Transfers | ${cell(transfers(map, c))} |`,
      `| Security | ${SECURITY_MEASURES} |`,
      `| Approved | ${c.approval === null ? "—" : cell(`${c.approval.reviewer}, ${c.approval.date} (${c.approval.reference})`)} |`,
      "",
      "| Field | Category | Sensitivity | Minimised | Kept for | Regions | What it is |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...c.fields.map(
        (f) =>
          `| ${f.name} | ${f.dataCategory} | ${f.sensitivity} | ${f.transform} | ${f.retention} | ${f.regions.join(", ")} | ${cell(f.description)} |`,
      ),
      "",
    );
  }
  return `${out.join("\n")}`;
}

/** The fides key of a region's dataset. */
const datasetKey = (region: string) => `phonehome_${region.replace(/[^A-Za-z0-9_]/g, "_")}`;

/** The taxonomy entries phonehome adds to fideslang's, with their parents, as Fides resources. */
function extensions(names: Iterable<string>, taxonomy: typeof DATA_CATEGORIES) {
  const needed = new Set<string>();
  for (const name of names) {
    // An extension's parents up to the first fideslang name come with it.
    for (let n: string | undefined = name; n !== undefined && taxonomy[n]?.extension === true;) {
      needed.add(n);
      const dot = n.lastIndexOf(".");
      n = dot < 0 ? undefined : n.slice(0, dot);
    }
  }
  return [...needed].sort().map((key) => {
    const dot = key.lastIndexOf(".");
    return {
      fides_key: key,
      name: key.slice(dot + 1),
      parent_key: dot < 0 ? null : key.slice(0, dot),
      description: taxonomy[key]?.description ?? "",
      is_default: false,
    };
  });
}

/** The map as a fideslang YAML document: datasets, the system, and the taxonomy extensions used. */
export function fidesYaml(map: DataMap): string {
  const dataset = map.regions.map((r) => ({
    fides_key: datasetKey(r.id),
    name: `phonehome region ${r.id}`,
    description: `The store of region ${r.id}, in ${r.storedIn}: data of devices sold in ${marketsOf(r)}.`,
    collections: map.collections
      .filter((c) => c.regions.some((x) => x.id === r.id))
      .map((c) => ({
        name: `${c.name}.v${c.version}`,
        description: c.description,
        fields: c.fields
          .filter((f) => f.regions.includes(r.id))
          .map((f) => ({ name: f.name, description: f.description, data_categories: [f.dataCategory] })),
      })),
  }));
  const international = map.collections.some((c) => transfers(map, c) !== "none");
  const system = [
    {
      fides_key: "phonehome",
      name: "phonehome",
      description:
        "Collects what devices must send home (activation, which starts the warranty) and opt-in diagnostics, each region storing only the data of devices sold in its markets.",
      system_type: "Service",
      responsibility: ["Controller"],
      processes_personal_data: true,
      does_international_transfers: international,
      data_security_practices: SECURITY_MEASURES,
      dataset_references: dataset.map((d) => d.fides_key),
      privacy_declarations: map.collections.map((c) => ({
        name: `${c.name} v${c.version}`,
        data_use: c.purpose,
        data_categories: [...new Set(c.fields.map((f) => f.dataCategory))].sort(),
        data_subjects: ["customer"],
        dataset_references: c.regions.map((r) => datasetKey(r.id)),
        legal_basis_for_processing: FIDES_LEGAL_BASIS[c.legalBasis],
        flexible_legal_basis_for_processing: false,
        retention_period: c.retention,
        data_shared_with_third_parties: false,
      })),
    },
  ];
  const categories = map.collections.flatMap((c) => c.fields.map((f) => f.dataCategory));
  return yaml({
    data_category: extensions(categories, DATA_CATEGORIES),
    data_use: extensions(
      map.collections.map((c) => c.purpose),
      DATA_USES,
    ),
    dataset,
    system,
  });
}
