import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  type Doc,
  REGIONS,
  SHIPPED_DICTIONARY,
  sampleDoc,
  tempDictionary,
} from "../../../test/helpers/dictionary.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import { lintDictionary, loadDictionary } from "./index.ts";
import { type LintReport, versionDigest } from "./lint.ts";
import type { CollectionFile } from "./schema.ts";

const folders: (() => void)[] = [];
after(() => {
  for (const cleanup of folders) cleanup();
});

/** Writes the given files into a fresh dictionary folder and lints it; returns the report and each file's path. */
function lint(files: Record<string, object | string>, regions: readonly string[] = REGIONS) {
  const dict = tempDictionary();
  folders.push(dict.cleanup);
  const paths: Record<string, string> = {};
  for (const [path, content] of Object.entries(files)) paths[path] = dict.write(path, content);
  return { report: lintDictionary(dict.dir, { regions }), paths, dir: dict.dir };
}

/** Lints one `sample/v1.yaml` after `change` breaks it; returns the report and a function naming its paths. */
/** Lints the sample after one change; its approval (if any) pins the changed version, as a review would. */
function lintSample(change: (doc: Doc) => void) {
  const doc = sampleDoc();
  change(doc);
  const approval = doc.approval as Record<string, unknown> | undefined;
  if (approval !== undefined && approval.sha256 === undefined) {
    approval.sha256 = versionDigest(doc as unknown as CollectionFile);
  }
  const { report, paths } = lint({ "sample/v1.yaml": doc });
  return { report, at: (pointer: string) => `${paths["sample/v1.yaml"]}:${pointer}` };
}

function field(doc: Doc, name: string): Record<string, unknown> {
  const f = doc.fields[name];
  assert.ok(f, `the sample has a field ${name}`);
  return f;
}

function assertError(report: LintReport, path: string, pattern: RegExp) {
  const found = report.errors.some((e) => e.path === path && pattern.test(e.message));
  assert.ok(
    found,
    `expected an error at ${path} matching ${pattern}; got ${JSON.stringify(report.errors, null, 1)}`,
  );
}

describe("the shipped dictionary", () => {
  it("lints clean, without warnings", () => {
    const report = lintDictionary(SHIPPED_DICTIONARY, { regions: REGIONS });
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(report.stats, { collections: 4, versions: 4, fields: 15 });
  });

  it("declares for activation v1 what a warranty needs and nothing more", () => {
    const { dictionary } = loadDictionary(SHIPPED_DICTIONARY, { regions: REGIONS });
    const activation = dictionary.get("activation", 1);
    assert.ok(activation);
    assert.deepEqual(activation.fields.map((f) => f.name).sort(), [
      "activatedAt",
      "build",
      "market",
      "model",
      "serial",
      "variant",
    ]);
    for (const f of activation.fields) {
      assert.doesNotMatch(f.dataCategory, /imei|imsi|iccid|sim|location/, `${f.name} is ${f.dataCategory}`);
      assert.equal(f.legalBasis, "contract");
    }
    assert.deepEqual(activation.regions, ["global", "cn"]);
    assert.equal(activation.approved, true);
  });
});

describe("a clean fixture", () => {
  it("passes, so every failure below comes from the one change it makes", () => {
    const { report } = lintSample(() => {});
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.warnings, []);
  });
});

describe("lint rules", () => {
  it("refuses an undeclared data category", () => {
    const { report, at } = lintSample((d) => {
      field(d, "serial").dataCategory = "user.device.serial";
    });
    assertError(report, at("/fields/serial/dataCategory"), /undeclared data category user\.device\.serial$/);
  });

  it("refuses an undeclared purpose, and a field purpose that does not narrow the collection's", () => {
    const { report, at } = lintSample((d) => {
      d.purpose = "essential.service.warranty";
      field(d, "model").purpose = "marketing.advertising";
    });
    assertError(report, at("/purpose"), /undeclared data use essential\.service\.warranty/);
    assertError(report, at("/fields/model/purpose"), /undeclared data use marketing\.advertising/);

    const narrow = lintSample((d) => {
      field(d, "model").purpose = "analytics.reporting.system.performance";
      field(d, "serial").purpose = "essential.service.operations.support.warranty";
    });
    assertError(
      narrow.report,
      narrow.at("/fields/model/purpose"),
      /does not narrow the collection's purpose/,
    );
    assert.equal(narrow.report.errors.length, 1, "a narrower purpose is accepted");
  });

  it("refuses a field without retention when the collection has none", () => {
    const { report, at } = lintSample((d) => {
      delete d.retention;
      for (const f of Object.values(d.fields)) f.retention = "P30D";
      delete field(d, "model").retention;
    });
    assert.equal(report.errors.length, 1);
    assertError(report, at("/fields/model/retention"), /no retention/);
  });

  it("refuses a field retention that outlasts the collection's, and a zero retention", () => {
    const { report, at } = lintSample((d) => {
      field(d, "model").retention = "P13M";
      field(d, "serial").retention = "P0D";
    });
    assertError(report, at("/fields/model/retention"), /P13M outlasts the collection's retention P1Y/);
    assertError(report, at("/fields/serial/retention"), /longer than zero/);
  });

  it("refuses a retention not written as an ISO 8601 duration", () => {
    const { report, at } = lintSample((d) => {
      d.retention = "1y";
    });
    assertError(report, at("/retention"), /must be an ISO 8601 duration such as P5Y/);
  });

  it("refuses a sensitivity-4 field without a stated necessity", () => {
    const { report, at } = lintSample((d) => {
      delete field(d, "cell").necessity;
    });
    assertError(report, at("/fields/cell/necessity"), /sensitivity-4/);
  });

  it("refuses a field allowed in a region where its collection is not", () => {
    const { report, at } = lintSample((d) => {
      d.regions = ["global"];
      field(d, "cell").regions = ["global", "cn"];
    });
    assertError(report, at("/fields/cell/regions/1"), /allowed in region cn, where the collection is not/);
  });

  it("refuses a region the configuration does not declare", () => {
    const { report, paths } = lint({ "sample/v1.yaml": sampleDoc() }, ["global"]);
    assertError(report, `${paths["sample/v1.yaml"]}:/regions/1`, /region cn is not in the configuration/);
  });

  it("refuses a file whose name or folder does not match its collection and version", () => {
    const { report, paths } = lint({
      "other/v1.yaml": sampleDoc({ collection: "sample" }),
      "sample/v2.yaml": sampleDoc({ version: 3 }),
      "sample/first.yaml": sampleDoc({ version: 4 }),
      "sample/v5.yml": sampleDoc({ version: 5 }),
      "stray.yaml": sampleDoc(),
    });
    assertError(
      report,
      `${paths["other/v1.yaml"]}:/collection`,
      /declares collection sample but is filed under other\//,
    );
    assertError(
      report,
      `${paths["sample/v2.yaml"]}:/version`,
      /declares version 3 but the file is named v2\.yaml/,
    );
    assertError(report, String(paths["sample/first.yaml"]), /does not follow v<N>\.yaml/);
    assertError(report, String(paths["sample/v5.yml"]), /does not follow v<N>\.yaml/);
    assertError(report, String(paths["stray.yaml"]), /<collection>\/v<N>\.yaml/);
  });

  it("refuses two files declaring the same collection version", () => {
    const { report, paths } = lint({
      "sample/v1.yaml": sampleDoc(),
      "sample/v2.yaml": sampleDoc({ version: 1 }),
    });
    assertError(
      report,
      `${paths["sample/v2.yaml"]}:/version`,
      /sample v1 is also declared by .*sample\/v1\.yaml/,
    );
  });

  it("refuses coarsen on a type that cannot be coarsened, and a number coarsened without a step", () => {
    const { report, at } = lintSample((d) => {
      field(d, "model").transform = "coarsen";
      field(d, "charging").transform = "coarsen";
      delete field(d, "battery").step;
    });
    assertError(report, at("/fields/model/transform"), /a string field cannot be coarsened/);
    assertError(report, at("/fields/charging/transform"), /a boolean field cannot be coarsened/);
    assertError(report, at("/fields/battery/step"), /needs a step/);
  });

  it("refuses pseudonymise on a value that is not an identifier, and a step without coarsen", () => {
    const { report, at } = lintSample((d) => {
      field(d, "charging").transform = "pseudonymise";
      field(d, "battery").transform = "keep";
    });
    assertError(report, at("/fields/charging/transform"), /cannot be pseudonymised/);
    assertError(report, at("/fields/battery/step"), /only by transform coarsen/);
  });

  it("refuses missing, misplaced and contradictory bounds", () => {
    const { report, at } = lintSample((d) => {
      delete field(d, "model").maxLength;
      delete field(d, "battery").maximum;
      field(d, "seenAt").maxLength = 30;
      field(d, "serial").pattern = "^[A-Z";
      field(d, "cell").minLength = 50;
    });
    assertError(report, at("/fields/model/maxLength"), /needs maxLength or enum/);
    assertError(report, at("/fields/battery/maximum"), /needs minimum and maximum/);
    assertError(report, at("/fields/seenAt/maxLength"), /does not apply to a timestamp field/);
    assertError(report, at("/fields/serial/pattern"), /not a valid regular expression/);
    assertError(report, at("/fields/cell/minLength"), /minLength 50 exceeds maxLength 40/);
  });

  it("refuses unknown keys, bad names and values out of the schema's bounds", () => {
    const { report, at } = lintSample((d) => {
      d.owner = "someone";
      field(d, "model").colour = "red";
      field(d, "serial").sensitivity = 5;
      d.legalBasis = "because";
      d.fields.Bad_Name = { ...field(d, "model") };
    });
    assertError(report, at("/owner"), /unknown key owner/);
    assertError(report, at("/fields/model/colour"), /unknown key colour/);
    assertError(report, at("/fields/serial/sensitivity"), /must be <= 4/);
    assertError(report, at("/legalBasis"), /must be one of consent, contract, legal_obligation/);
    assertError(report, at("/fields/Bad_Name"), /field name Bad_Name is not lower camelCase/);
  });

  it("reports a file that is not YAML, or not a mapping, with where it broke", () => {
    const { report, paths } = lint({
      "sample/v1.yaml": "collection: sample\nfields: [unclosed\n",
      "other/v1.yaml": "- just\n- a list\n",
    });
    assert.ok(
      report.errors.some(
        (e) => e.path.startsWith(`${paths["sample/v1.yaml"]}:`) && /not valid YAML/.test(e.message),
      ),
      JSON.stringify(report.errors),
    );
    assertError(report, String(paths["other/v1.yaml"]), /must be a YAML mapping/);
  });

  it("reports a dictionary folder that cannot be read", () => {
    const report = lintDictionary("/nonexistent/phonehome-dictionary", { regions: REGIONS });
    assertError(report, "/nonexistent/phonehome-dictionary", /cannot read the dictionary folder/);
  });
});

describe("warnings", () => {
  it("warns, without failing, about a missing approval, a future approval date and a sensitivity-4 field kept in clear", () => {
    const missing = lintSample((d) => {
      delete d.approval;
      field(d, "cell").transform = "keep";
    });
    assert.deepEqual(missing.report.errors, []);
    assert.deepEqual(
      missing.report.warnings.map((w) => w.path),
      [missing.at("/approval"), missing.at("/fields/cell/transform")],
    );

    const future = lintSample((d) => {
      d.approval = { reviewer: "A. Reviewer", date: "2999-01-01", reference: "REV-2" };
    });
    assert.deepEqual(future.report.errors, []);
    assert.deepEqual(
      future.report.warnings.map((w) => w.path),
      [future.at("/approval/date")],
    );
  });
});

describe("loadDictionary", () => {
  it("throws dictionary.invalid listing every problem of every file at once", () => {
    const dict = tempDictionary();
    folders.push(dict.cleanup);
    const broken = sampleDoc();
    field(broken, "serial").dataCategory = "user.device.serial";
    delete field(broken, "cell").necessity;
    const a = dict.write("sample/v1.yaml", broken);
    const b = dict.write("other/v1.yaml", sampleDoc({ collection: "other", regions: ["eu"] }));
    assert.throws(
      () => loadDictionary(dict.dir, { regions: REGIONS }),
      (error: unknown) => {
        assert.ok(isPhoneHomeError(error, "dictionary.invalid"));
        const paths = (error.problems ?? []).map((p) => p.path);
        assert.ok(paths.includes(`${a}:/fields/serial/dataCategory`), paths.join("\n"));
        assert.ok(paths.includes(`${a}:/fields/cell/necessity`), paths.join("\n"));
        assert.ok(paths.includes(`${b}:/regions/0`), paths.join("\n"));
        assert.ok(paths.includes(`${b}:/fields/cell/regions/0`), paths.join("\n"));
        return true;
      },
    );
  });

  it("returns warnings beside a dictionary that loads", () => {
    const dict = tempDictionary();
    folders.push(dict.cleanup);
    const doc = sampleDoc();
    delete doc.approval;
    dict.write("sample/v1.yaml", doc);
    const { dictionary, warnings } = loadDictionary(dict.dir, { regions: REGIONS });
    assert.equal(warnings.length, 1);
    assert.equal(dictionary.get("sample", 1)?.approved, false);
  });
});
