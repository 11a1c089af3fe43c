/**
 * The data map: what phonehome collects, from which devices, why, under which
 * legal basis, where it is stored, for how long and who receives it —
 * generated from the approved collections of the data dictionary, the
 * configured regions and the fleet registry, never written by hand. The
 * Record of Processing Activities and the fideslang export are views of it
 * (exports.ts).
 */
import type { Dictionary } from "../../core/dictionary/index.ts";
import { DATA_CATEGORIES, DATA_USES } from "../../core/dictionary/index.ts";
import type { DataMap, MapCollection, MapRegion } from "@phonehome/shared";
import { PUBLIC_ROUTES } from "./public-routes.ts";

export type { DataMap, MapCollection, MapField, MapRegion } from "@phonehome/shared";

/** The fleet as the map needs it: each registered variant's region, and the markets of its batches. */
export interface FleetVariants {
  variants: { model: string; variant: string; region: string }[];
  markets: { region: string; market: string }[];
}

/** Builds the map. */
export function buildDataMap(input: {
  dictionary: Dictionary;
  regions: readonly { id: string; storedIn: string }[];
  /** Market → region, with the region of markets not named. */
  policy: { markets: Readonly<Record<string, string>>; default: string };
  fleet: FleetVariants;
  now?: Date;
}): DataMap {
  const regions: MapRegion[] = input.regions.map((r) => ({
    id: r.id,
    storedIn: r.storedIn,
    markets: Object.entries(input.policy.markets)
      .filter(([, region]) => region === r.id)
      .map(([market]) => market)
      .sort(),
    isDefault: r.id === input.policy.default,
    soldIn: input.fleet.markets
      .filter((m) => m.region === r.id)
      .map((m) => m.market)
      .sort(),
    variants: input.fleet.variants
      .filter((v) => v.region === r.id)
      .map((v) => `${v.model}/${v.variant}`)
      .sort(),
  }));
  const byId = new Map(regions.map((r) => [r.id, r]));
  const collections = input.dictionary.collections
    .filter((c) => c.approved && !c.expiredAt(input.now ?? new Date()))
    .map((c): MapCollection => {
      const where = c.regions.flatMap((id) => {
        const r = byId.get(id);
        return r === undefined ? [] : [r];
      });
      const markets = [...new Set(where.flatMap((r) => [...r.markets, ...r.soldIn]))].sort();
      return {
        name: c.name,
        version: c.version,
        description: c.description,
        purpose: c.purpose,
        purposeDescription: DATA_USES[c.purpose]?.description ?? "",
        legalBasis: c.legalBasis,
        retention: c.retention.duration,
        regions: where.map((r) => ({ id: r.id, storedIn: r.storedIn })),
        devices: { variants: where.flatMap((r) => r.variants), markets },
        recipients: where.map((r) => `the maker's collector of region ${r.id} (stored in ${r.storedIn})`),
        approval:
          c.approval === undefined
            ? null
            : { reviewer: c.approval.reviewer, date: c.approval.date, reference: c.approval.reference },
        fields: c.fields.map((f) => ({
          name: f.name,
          description: f.description,
          dataCategory: f.dataCategory,
          categoryDescription: DATA_CATEGORIES[f.dataCategory]?.description ?? "",
          sensitivity: f.sensitivity,
          transform: f.transform,
          retention: f.retention.duration,
          regions: f.regions.filter((id) => c.regions.includes(id)),
        })),
      };
    });
  return {
    format: "phonehome.data-map/1",
    generatedAt: (input.now ?? new Date()).toISOString(),
    regions,
    collections,
    publicRoutes: [...PUBLIC_ROUTES],
  };
}
