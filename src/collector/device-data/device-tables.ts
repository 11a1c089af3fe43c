/** Reading the collector's list of device tables: which table stores a collection, which one an export pages. */
import type { DeviceTable, PagedOwnerRecords } from "./device-table.ts";

/** The one table that stores records of `collection`; throws when none or several claim it. */
export function tableStoring(tables: readonly DeviceTable[], collection: string): DeviceTable {
  const found = tables.filter((t) => t.holds === "collected" && t.stores(collection));
  const [table] = found;
  if (table === undefined || found.length > 1) {
    const which = found.length === 0 ? "no table" : found.map((t) => t.name).join(" and ");
    throw new Error(`${which} of the region's store holds collection ${collection}: exactly one must`);
  }
  return table;
}

/** The tables whose rows expire, in the list's order. */
export function expiringTables(tables: readonly DeviceTable[]): DeviceTable[] {
  return tables.filter((t) => t.expiry !== null);
}

function isPaged(owner: DeviceTable["owner"]): owner is PagedOwnerRecords {
  return owner !== undefined && "page" in owner;
}

/** An owner's records, split into the tables shown whole and the one table the export pages through. */
export function ownerTables(tables: readonly DeviceTable[]): {
  whole: { table: DeviceTable; owner: NonNullable<DeviceTable["owner"]> }[];
  paged: { table: DeviceTable; owner: PagedOwnerRecords };
} {
  const whole: { table: DeviceTable; owner: NonNullable<DeviceTable["owner"]> }[] = [];
  const paged: { table: DeviceTable; owner: PagedOwnerRecords }[] = [];
  for (const table of tables) {
    if (isPaged(table.owner)) paged.push({ table, owner: table.owner });
    else if (table.owner !== undefined) whole.push({ table, owner: table.owner });
  }
  const [one] = paged;
  if (one === undefined || paged.length > 1) {
    throw new Error(`an owner's export pages through exactly one table, not ${paged.length}`);
  }
  return { whole, paged: one };
}
