/**
 * The data map: what phonehome collects, from which devices, why, under which
 * legal basis, where it is stored, for how long and who receives it —
 * generated from the approved collections of the data dictionary, the
 * configured regions and the fleet registry, never written by hand. The
 * Record of Processing Activities and the fideslang export are views of it
 * (exports.ts).
 */
import type { Dictionary } from "../../core/dictionary/index.ts";
import { DATA_CATEGORIES, DATA_USES, type LegalBasis } from "../../core/dictionary/index.ts";
import { PUBLIC_ROUTES, type PublicRoute } from "./public-routes.ts";

/** A region as the map shows it. */
export interface MapRegion {
  id: string;
  /** ISO 3166-1 alpha-2 country its store is in. */
  storedIn: string;
  /** Markets the configuration sends to it; the default region also takes every market not named. */
  markets: string[];
  isDefault: boolean;
  /** Markets its registered batches were made for, and its registered variants. */
  soldIn: string[];
  variants: string[];
}

/** One field of a collection. */
export interface MapField {
  name: string;
  description: string;
  dataCategory: string;
  categoryDescription: string;
  sensitivity: number;
  /** keep, pseudonymise, coarsen or drop: how it is minimised before storage. */
  transform: string;
  retention: string;
  regions: string[];
}

/** One processing activity: an approved collection version. */
export interface MapCollection {
  name: string;
  version: number;
  description: string;
  purpose: string;
  purposeDescription: string;
  legalBasis: LegalBasis;
  retention: string;
  /** The regions it may be stored in, with their storage countries. */
  regions: { id: string; storedIn: string }[];
  /** The devices it comes from: the variants and markets of those regions. */
  devices: { variants: string[]; markets: string[] };
  /** Who receives it: the region that stores it, and no one else (no payload leaves its region). */
  recipients: string[];
  approval: { reviewer: string; date: string; reference: string } | null;
  fields: MapField[];
}

/** The whole map. */
export interface DataMap {
  format: "phonehome.data-map/1";
  generatedAt: string;
  regions: MapRegion[];
  collections: MapCollection[];
  /** The routes anyone may call without a token, and why each may (public-routes.ts). */
  publicRoutes: readonly PublicRoute[];
}

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
    publicRoutes: PUBLIC_ROUTES,
  };
}
