/** The data map of a configuration, its dictionary and its fleet registry, in each format it is published in. */
import type { Config } from "../../core/config/index.ts";
import type { Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { listBatchMarkets, listVariants } from "../fleet/index.ts";
import { buildDataMap, type DataMap } from "./datamap.ts";
import { fidesYaml, ropaCsv, ropaMarkdown } from "./exports.ts";

/** The formats the map is published in, with their media types. */
export const FORMATS = {
  json: "application/json",
  "ropa-csv": "text/csv; charset=utf-8",
  "ropa-md": "text/markdown; charset=utf-8",
  fides: "application/yaml; charset=utf-8",
} as const;
export type DataMapFormat = keyof typeof FORMATS;

/** The map, read now. */
export async function currentDataMap(
  db: Queryable,
  config: Pick<Config, "regions" | "policy">,
  dictionary: Dictionary,
): Promise<DataMap> {
  const [variants, markets] = await Promise.all([listVariants(db), listBatchMarkets(db)]);
  return buildDataMap({
    dictionary,
    regions: config.regions,
    policy: config.policy,
    fleet: { variants: variants.map((v) => ({ model: v.model, variant: v.id, region: v.region })), markets },
  });
}

/** The map in one format, as text. */
export function render(map: DataMap, format: DataMapFormat): string {
  if (format === "ropa-csv") return ropaCsv(map);
  if (format === "ropa-md") return ropaMarkdown(map);
  if (format === "fides") return fidesYaml(map);
  return `${JSON.stringify(map, null, 2)}\n`;
}
