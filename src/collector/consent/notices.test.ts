import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../core/config/index.ts";
import { loadDictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { lintNotices, loadNotices, type NoticeScope, scopeWithin } from "./notices.ts";

const SHIPPED = join(PACKAGE_ROOT, "notices");
const PURPOSE = "uep.diagnostics";
const V1_EN = readFileSync(join(SHIPPED, PURPOSE, "v1.en.md"), "utf8");
const { dictionary } = loadDictionary(join(PACKAGE_ROOT, "dictionary"), { regions: ["global", "cn"] });

const scratch = mkdtempSync(join(tmpdir(), "phonehome-notices-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A notices folder holding `files` (path → content) and, unless `bare`, the shipped notices. */
function folder(files: Record<string, string>, bare = false): string {
  dirs += 1;
  const dir = join(scratch, `n${dirs}`);
  if (bare) mkdirSync(dir, { recursive: true });
  else cpSync(SHIPPED, dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** The shipped English v1, as version `version`, with `edit` applied. */
function variant(version: number, edit: (text: string) => string = (x) => x): string {
  return edit(V1_EN.replace("version: 1", `version: ${version}`));
}

const scope = (over: Partial<NoticeScope> = {}): NoticeScope => ({
  collections: ["uep.diagnostics"],
  dataCategories: ["user.device", "user.device.telemetry"],
  dataUses: ["analytics.reporting.system.performance"],
  retention: "P90D",
  ...over,
});

describe("the shipped notices", () => {
  it("load without a problem and cover the shipped dictionary's consent-based collections", () => {
    const { notices, problems } = lintNotices(SHIPPED, dictionary);
    assert.deepEqual(problems, []);
    assert.deepEqual(notices.purposes(), [PURPOSE]);
    assert.equal(notices.currentVersion(PURPOSE), 1);
    assert.deepEqual(notices.languages(PURPOSE, 1), ["en", "nb"]);
    const nb = notices.get(PURPOSE, 1, "nb");
    assert.equal(nb?.title, "Brukeropplevelsesprogrammet");
    assert.deepEqual(nb?.scope, notices.get(PURPOSE, 1, "en")?.scope);
    assert.match(nb?.sha256 ?? "", /^[0-9a-f]{64}$/);
    assert.ok(nb?.text.startsWith("\n# Brukeropplevelsesprogrammet"));
  });
});

describe("notice lint", () => {
  it("lists every problem in every file, each with its file and place", () => {
    const dir = folder(
      {
        [`${PURPOSE}/v2.en.md`]: "# no front matter\n",
        [`${PURPOSE}/v2.nb.md`]: "---\npurpose: [unclosed\n---\ntext\n",
        [`${PURPOSE}/v2.de.md`]: variant(2, (x) => x.replace("language: en", "language: de\ncolour: blue")),
        [`${PURPOSE}/v2.fr.md`]: variant(2, (x) => x.replace("title: User Experience Program\n", "")),
        [`${PURPOSE}/v3.en.md`]: variant(4, (x) => x.replace("language: en", "language: sv")),
        [`${PURPOSE}/v3.sv.md`]: variant(3, (x) =>
          x
            .replace("language: en", "language: sv")
            .replace("user.device.telemetry]", "user.device.telepathy]")
            .replace("analytics.reporting.system.performance", "advertising.sold")
            .replace("retention: P90D", "retention: 90 days"),
        ),
        [`${PURPOSE}/v3.fi.md`]: variant(3, (x) =>
          x.replace("language: en", "language: fi").replace(/\n---\n[\s\S]*$/, "\n---\n\n"),
        ),
        [`${PURPOSE}/v3.de.md`]: variant(3, (x) => x.replace("language: en", "language: de")),
        [`${PURPOSE}/v3.nb.md`]: variant(3, (x) =>
          x
            .replace("language: en", "language: nb")
            .replace("P90D", "P30D")
            .replace("privacy@example.com", "dpo@example.com"),
        ),
        [`${PURPOSE}/version1.en.md`]: V1_EN,
        [`${PURPOSE}/notes.txt`]: "ignored: not a notice",
        "v1.en.md": V1_EN,
        "Marketing/v1.en.md": V1_EN,
        "README.md": "# notices\n",
        [`${PURPOSE}/v1.en.md/x`]: "a folder where a file should be",
      },
      true,
    );
    writeFileSync(join(dir, PURPOSE, "v1.nb.md"), readFileSync(join(SHIPPED, PURPOSE, "v1.nb.md")));
    const { problems } = lintNotices(dir);
    const at = (fragment: string) => problems.filter((p) => p.path.includes(fragment)).map((p) => p.message);
    const has = (fragment: string, message: RegExp) =>
      assert.ok(
        at(fragment).some((m) => message.test(m)),
        `expected a problem at ${fragment} matching ${message}; got ${JSON.stringify(problems, null, 1)}`,
      );
    has("v2.en.md:1", /starts with YAML front matter/);
    has("v2.nb.md", /not valid YAML/);
    has("v2.de.md:/colour", /unknown key "colour"/);
    has("v2.fr.md:/title", /missing key "title"/);
    has("v3.en.md:/version", /says 4, but the file is named v3/);
    has("v3.en.md:/language", /says sv, but the file is named \.en\.md/);
    has("v3.sv.md:/scope/dataCategories/1", /not a data category/);
    has("v3.sv.md:/scope/dataUses/0", /not a data use/);
    has("v3.sv.md:/scope/retention", /not a positive ISO 8601 duration/);
    has("v3.fi.md:/", /no text/);
    has("v3.nb.md:/scope", /every language of a version covers the same scope/);
    has("v3.nb.md:/controller", /names the same controller/);
    has("version1.en.md", /named v<N>\.<lang>\.md/);
    has(`${dir.split("/").pop()}/v1.en.md`, /not at the top of the notices folder/);
    has("Marketing", /not a purpose name/);
    has(`${PURPOSE}/v1.en.md`, /unexpected folder/);
    assert.deepEqual(at("notes.txt"), [], "files that are not .md are left alone");
    assert.deepEqual(at("README.md"), [], "a README beside the purposes is fine");
    // Every listed problem is one of the above: nothing reported twice, nothing vague.
    assert.equal(problems.length, 17, JSON.stringify(problems, null, 1));

    assert.throws(
      () => loadNotices(dir),
      (error) =>
        isPhoneHomeError(error, "notice.invalid") &&
        error.problems?.length === problems.length &&
        /have 17 problems/.test(error.message),
    );
  });

  it("refuses a gap in the versions (an old text a consent names must stay)", () => {
    const { problems } = lintNotices(folder({ [`${PURPOSE}/v3.en.md`]: variant(3) }));
    assert.deepEqual(
      problems.map((p) => p.message),
      [`purpose ${PURPOSE} has v3 but no v2: versions run from 1 without gaps, and none is removed`],
    );
  });

  it("reports a missing folder instead of throwing", () => {
    const { problems } = lintNotices(join(scratch, "nowhere"));
    assert.match(problems[0]?.message ?? "", /cannot read the notices folder/);
  });
});

describe("coverage of the dictionary", () => {
  it("wants a current notice that names every consent-based collection, its categories, uses and retention", () => {
    const narrow = folder({
      [`${PURPOSE}/v2.en.md`]: variant(2, (x) =>
        x.replace("[user.device, user.device.telemetry]", "[user.device.telemetry]").replace("P90D", "P30D"),
      ),
    });
    const { problems } = lintNotices(narrow, dictionary);
    assert.ok(problems.length > 0);
    assert.ok(
      problems.every(
        (p) =>
          p.path.endsWith("v2.en.md:/scope/dataCategories") || p.path.endsWith("v2.en.md:/scope/retention"),
      ),
    );
    assert.ok(
      problems.some((p) =>
        /does not name user\.device, the data category of uep\.diagnostics v1 field build/.test(p.message),
      ),
    );
    assert.ok(
      problems.some((p) => /P30D is shorter than the retention of uep\.diagnostics v1/.test(p.message)),
    );

    const none = lintNotices(folder({}, true), dictionary).problems;
    assert.ok(
      none.some((p) =>
        /uep\.diagnostics v1 is collected on consent, but no current notice lists it/.test(p.message),
      ),
    );

    const stray = folder({
      [`${PURPOSE}/v2.en.md`]: variant(2, (x) =>
        x.replace("collections: [uep.diagnostics]", "collections: [uep.diagnostics, uep.feedback]"),
      ),
    });
    assert.deepEqual(
      lintNotices(stray, dictionary).problems.map((p) => p.message),
      ["the dictionary has no collection uep.feedback"],
    );
  });
});

describe("the scope rule", () => {
  it("keeps a yes valid only while the current scope lies within the one agreed to", () => {
    assert.ok(scopeWithin(scope(), scope()));
    assert.ok(scopeWithin(scope({ dataCategories: ["user.device.telemetry"] }), scope()), "fewer categories");
    assert.ok(scopeWithin(scope({ retention: "P30D" }), scope()), "shorter retention");
    assert.ok(scopeWithin(scope({ retention: "P12W" }), scope()), "84 days is within 90");
    assert.ok(!scopeWithin(scope({ retention: "P4M" }), scope()), "four months outlast 90 days");
    assert.ok(
      !scopeWithin(
        scope({ dataCategories: ["user.device", "user.device.telemetry", "user.device.sensor"] }),
        scope(),
      ),
    );
    assert.ok(
      !scopeWithin(scope({ dataCategories: ["user.device.serial_number"] }), scope()),
      "a category is named word for word: user.device listed does not cover its serial number",
    );
    assert.ok(!scopeWithin(scope({ dataUses: ["analytics.reporting"] }), scope()), "a broader use");
    assert.ok(!scopeWithin(scope({ collections: ["uep.diagnostics", "uep.feedback"] }), scope()));
  });

  it("decides, per purpose, which versions still cover the current notice", () => {
    const wider = (x: string) =>
      x.replace("user.device.telemetry]", "user.device.telemetry, user.device.sensor]");
    const same = loadNotices(folder({ [`${PURPOSE}/v2.en.md`]: variant(2) }));
    assert.deepEqual(same.coveringVersions(PURPOSE), [1, 2]);
    const widened = loadNotices(
      folder({ [`${PURPOSE}/v2.en.md`]: variant(2), [`${PURPOSE}/v3.en.md`]: variant(3, wider) }),
    );
    assert.deepEqual(widened.coveringVersions(PURPOSE), [3]);
    assert.equal(widened.covers(PURPOSE, 1), false);
    assert.equal(widened.currentVersion(PURPOSE), 3);
    assert.deepEqual(widened.languages(PURPOSE, 3), ["en"]);
    assert.deepEqual(widened.languages(PURPOSE, 1), ["en", "nb"]);
    const narrowedAgain = loadNotices(
      folder({ [`${PURPOSE}/v2.en.md`]: variant(2, wider), [`${PURPOSE}/v3.en.md`]: variant(3) }),
    );
    assert.deepEqual(narrowedAgain.coveringVersions(PURPOSE), [1, 2, 3], "v3 is within v2 and within v1");
    assert.equal(narrowedAgain.coveringVersions("marketing.email"), null);
    assert.equal(narrowedAgain.covers(PURPOSE, 4), false);
  });
});
