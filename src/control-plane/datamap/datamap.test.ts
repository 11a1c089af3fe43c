/**
 * The data map and its exports: every field of every approved collection is
 * in the ROPA (CSV and Markdown) and in the fideslang export, with its
 * category, purpose, legal basis, retention and regions; an unapproved
 * version is in none of them; the public route serves each format.
 */
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { parse as parseCsv } from "csv-parse/sync";
import { parse as parseYaml } from "yaml";
import { SHIPPED_DICTIONARY, sampleDoc, tempDictionary } from "../../../test/helpers/dictionary.ts";
import { pgliteBackend } from "../../../test/helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../../../test/helpers/system.ts";
import { buildConfig } from "../../core/config/index.ts";
import { type Dictionary, loadDictionary } from "../../core/dictionary/index.ts";
import { buildDataMap, type DataMap } from "./datamap.ts";
import { fidesYaml, ropaCsv, ropaMarkdown } from "./exports.ts";

const config = buildConfig({}, "/tmp");
const folder = tempDictionary();
let dictionary: Dictionary;
let map: DataMap;

before(() => {
  cpSync(SHIPPED_DICTIONARY, folder.dir, { recursive: true });
  // A proposed version nobody has approved yet: in no export.
  const { approval: _, ...unapproved } = sampleDoc({ collection: "proposed.collection" });
  folder.write("proposed.collection/v1.yaml", unapproved);
  dictionary = loadDictionary(folder.dir, { regions: ["global", "cn"] }).dictionary;
  map = buildDataMap({
    dictionary,
    regions: config.regions,
    policy: config.policy,
    fleet: {
      variants: [
        { model: "TA-1062", variant: "00WW", region: "global" },
        { model: "TA-1062", variant: "00CN", region: "cn" },
      ],
      markets: [
        { region: "global", market: "NO" },
        { region: "cn", market: "CN" },
      ],
    },
  });
});
after(() => folder.cleanup());

const approved = () => dictionary.collections.filter((c) => c.approved);
const LETTER = {
  consent: "a",
  contract: "b",
  legal_obligation: "c",
  vital_interests: "d",
  public_task: "e",
} as const;

test("the shipped dictionary has approved collections, and the test adds one that is not", () => {
  assert.ok(approved().length >= 4);
  assert.ok(dictionary.collections.some((c) => c.name === "proposed.collection" && !c.approved));
  assert.ok(!map.collections.some((c) => c.name === "proposed.collection"));
});

test("the ROPA as CSV has a row for every field of every approved collection, with all it must say", () => {
  const rows = parseCsv(ropaCsv(map), { columns: true }) as Record<string, string>[];
  let fields = 0;
  for (const c of approved()) {
    for (const f of c.fields) {
      fields += 1;
      const row = rows.find(
        (r) => r.activity === c.name && r.version === String(c.version) && r.field === f.name,
      );
      assert.ok(row, `${c.name} v${c.version} ${f.name}`);
      assert.equal(row.data_category, f.dataCategory);
      assert.equal(row.purpose, c.purpose);
      assert.match(
        row.legal_basis ?? "",
        new RegExp(`Art\\. 6\\(1\\)\\(${LETTER[c.legalBasis as keyof typeof LETTER] ?? "f"}\\)`),
      );
      assert.equal(row.field_retention, f.retention.duration);
      assert.equal(row.record_retention, c.retention.duration);
      assert.deepEqual(
        row.regions?.split(" "),
        f.regions.filter((r) => c.regions.includes(r)),
      );
      assert.ok((row.stored_in ?? "").length > 0);
    }
  }
  assert.equal(rows.length, fields, "and nothing else");
  assert.ok(rows.every((r) => r.activity !== "proposed.collection"));
  // Devices sold in Norway are stored in Singapore: a transfer the record must show.
  assert.ok(rows.some((r) => (r.transfers ?? "").includes("NO") && (r.transfers ?? "").includes("→ SG")));
});

test("the ROPA as Markdown has a section per approved collection and a line per field", () => {
  const text = ropaMarkdown(map);
  for (const c of approved()) {
    assert.ok(text.includes(`## ${c.name} v${c.version}\n`), c.name);
    for (const f of c.fields) {
      const line = `| ${f.name} | ${f.dataCategory} | ${f.sensitivity} | ${f.transform} | ${f.retention.duration} | ${f.regions.filter((r) => c.regions.includes(r)).join(", ")} |`;
      assert.ok(text.includes(line), line);
    }
  }
  assert.ok(!text.includes("proposed.collection"));
});

test("the fideslang export declares every approved collection and field, and the taxonomy it extends", () => {
  const doc = parseYaml(fidesYaml(map)) as {
    data_category: { fides_key: string; parent_key: string }[];
    data_use: { fides_key: string }[];
    dataset: {
      fides_key: string;
      collections: { name: string; fields: { name: string; data_categories: string[] }[] }[];
    }[];
    system: {
      fides_key: string;
      privacy_declarations: {
        name: string;
        data_use: string;
        data_categories: string[];
        legal_basis_for_processing: string;
        retention_period: string;
        dataset_references: string[];
      }[];
    }[];
  };
  const system = doc.system[0];
  assert.ok(system);
  const declarations = system.privacy_declarations;
  const basis = { consent: "Consent", contract: "Contract", legal_obligation: "Legal obligations" } as const;
  for (const c of approved()) {
    const declared = declarations.find((d) => d.name === `${c.name} v${c.version}`);
    assert.ok(declared, c.name);
    assert.equal(declared.data_use, c.purpose);
    assert.equal(declared.legal_basis_for_processing, basis[c.legalBasis as keyof typeof basis]);
    assert.equal(declared.retention_period, c.retention.duration);
    assert.deepEqual(
      declared.dataset_references,
      c.regions.map((r) => `phonehome_${r}`),
    );
    for (const region of c.regions) {
      const collection = doc.dataset
        .find((d) => d.fides_key === `phonehome_${region}`)
        ?.collections.find((x) => x.name === `${c.name}.v${c.version}`);
      assert.ok(collection, `${c.name} in ${region}`);
      for (const f of c.fields.filter((x) => x.regions.includes(region))) {
        assert.deepEqual(collection.fields.find((x) => x.name === f.name)?.data_categories, [f.dataCategory]);
        assert.ok(declared.data_categories.includes(f.dataCategory));
      }
    }
  }
  assert.equal(system.privacy_declarations.length, approved().length);
  // phonehome's own categories (e.g. the serial number) come with their parent, so Fides can load them.
  const serial = doc.data_category.find((c) => c.fides_key === "user.device.serial_number");
  assert.equal(serial?.parent_key, "user.device");
});

describe("GET /v1/data-map on a running control plane", { skip: pgliteBackend.skip }, () => {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem(pgliteBackend);
    await t.provision([{ market: "NO" }, { market: "CN" }]);
  });
  after(async () => {
    await t?.close();
  });

  test("is public and serves every format; the map names the fleet's variants and markets", async () => {
    const get = (query: string) => fetch(`${t.system.controlPlane.url}/v1/data-map${query}`);
    const json = (await (await get("")).json()) as DataMap;
    assert.deepEqual(
      json.regions.map((r) => [r.id, r.variants, r.soldIn]),
      [
        ["global", ["TA-1062/00WW"], ["NO"]],
        ["cn", ["TA-1062/00CN"], ["CN"]],
      ],
    );
    for (const [format, type] of [
      ["ropa-csv", /^text\/csv/],
      ["ropa-md", /^text\/markdown/],
      ["fides", /^application\/yaml/],
    ] as const) {
      const response = await get(`?format=${format}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", type);
    }
    const refused = await get("?format=pdf");
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "request.invalid");
  });
});
