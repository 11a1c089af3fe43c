/**
 * Adoption of a fix: per day, batch and market, how many active devices run a
 * build the advisory counts as fixed. The control plane gathers the day counts
 * from every region (they name no device) and classifies each build with the
 * advisory; a region that does not answer is named, not guessed.
 */
import { callRegion, fromEveryRegion, type RegionRef } from "../regions/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { AdoptionRow } from "@phonehome/shared";
import { checkedDay } from "../../core/calendar/index.ts";
import { findBuildManifest } from "../release/index.ts";
import { getAdvisory, statusUnder } from "./advisories.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

/** Where the control plane reaches each region. */
export interface AdoptionSources {
  regions: () => RegionRef[];
  serviceToken: ServiceTokenSource;
}

/** Adoption of an advisory's fix. */
export interface AdoptionReport {
  advisory: string;
  since: string;
  /** Regions whose counts are in, and those that did not answer (with why). */
  regions: { answered: string[]; missing: { region: string; reason: string }[] };
  /** Per day, batch and market: active devices, those on a fixed build, and the share. */
  days: { day: string; batch: string; market: string; devices: number; fixed: number; share: number }[];
  /** Per day and build: active devices and the build's status under the advisory. */
  builds: { day: string; build: string; devices: number; status: string }[];
}

/** Gathers the day counts from every region and measures the advisory's fix among them. */
export async function adoptionOf(
  db: Db,
  sources: AdoptionSources,
  advisoryId: string,
  since: string,
): Promise<AdoptionReport> {
  checkedDay(since);
  const advisory = await getAdvisory(db, advisoryId);
  const gathered = await fromEveryRegion(sources.regions(), (region) =>
    callRegion<{ rows: AdoptionRow[] }>(region, sources.serviceToken, "GET", `/v1/adoption?since=${since}`),
  );
  const rows = gathered.answers.flatMap((a) => a.value.rows);
  const status = new Map<string, string>();
  for (const number of new Set(rows.map((r) => r.build))) {
    const build = await findBuildManifest(db, number);
    status.set(number, build === null ? "unknown build" : statusUnder(advisory, build).status);
  }
  const days = new Map<string, AdoptionReport["days"][number]>();
  const builds = new Map<string, AdoptionReport["builds"][number]>();
  for (const r of rows) {
    const key = `${r.day}\u0000${r.batch}\u0000${r.market}`;
    const day = days.get(key) ?? {
      day: r.day,
      batch: r.batch,
      market: r.market,
      devices: 0,
      fixed: 0,
      share: 0,
    };
    day.devices += r.devices;
    if (status.get(r.build) === "fixed") day.fixed += r.devices;
    days.set(key, day);
    const bkey = `${r.day}\u0000${r.build}`;
    const b = builds.get(bkey) ?? {
      day: r.day,
      build: r.build,
      devices: 0,
      status: status.get(r.build) ?? "unknown build",
    };
    b.devices += r.devices;
    builds.set(bkey, b);
  }
  const byKey = <T extends { day: string }>(a: T, b: T, rest: (x: T) => string) =>
    a.day < b.day ? -1 : a.day > b.day ? 1 : rest(a) < rest(b) ? -1 : rest(a) > rest(b) ? 1 : 0;
  return {
    advisory: advisory.id,
    since,
    regions: { answered: gathered.answers.map((a) => a.region), missing: gathered.missing },
    days: [...days.values()]
      .map((d) => ({
        ...d,
        share: d.devices === 0 ? 0 : Math.round((d.fixed / d.devices) * 10_000) / 10_000,
      }))
      .sort((a, b) => byKey(a, b, (x) => `${x.batch}\u0000${x.market}`)),
    builds: [...builds.values()].sort((a, b) => byKey(a, b, (x) => x.build)),
  };
}
