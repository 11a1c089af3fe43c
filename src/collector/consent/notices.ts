/**
 * Consent notices: the text an owner is shown before saying yes or no to a
 * purpose, versioned and per language, at `<dir>/<purpose>/v<N>.<lang>.md`
 * (YAML front matter, then Markdown). Read and checked once at start; every
 * problem in every file is listed, like the dictionary's.
 *
 * A notice's `scope` (collections, data categories, data uses, retention) is
 * what a yes to it allows. A yes given under version V still allows collection
 * under the current version C only when C's scope lies within V's: anything C
 * names that V did not is something the owner never agreed to.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { LANGUAGE_PATTERN } from "@phonehome/shared";
import { type Static, Type as T } from "@sinclair/typebox";
import { Ajv } from "ajv";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isDataCategory, isDataUse, parseRetention, type Retention } from "../../core/dictionary/index.ts";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";

/** Purpose names: dotted lower-case words, like collection names (`uep.diagnostics`). */
export const PURPOSE_PATTERN = "^[a-z][a-z0-9_]{0,31}(\\.[a-z][a-z0-9_]{0,31}){0,3}$";
/** Language tags (BCP 47, the common subset): `en`, `nb`, `zh-Hans`, `pt-BR`. */
export { LANGUAGE_PATTERN };

const NOTICE_FILE = /^v([1-9][0-9]{0,5})\.([a-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2})\.md$/;
// A notice is a page or two of text; anything far larger is a mistake.
const MAX_FILE_BYTES = 256 * 1024;

const Name = (max: number) => T.String({ minLength: 1, maxLength: max });

const NoticeScopeSchema = T.Object(
  {
    collections: T.Array(T.String({ pattern: PURPOSE_PATTERN }), { maxItems: 64, uniqueItems: true }),
    dataCategories: T.Array(Name(128), { minItems: 1, maxItems: 64, uniqueItems: true }),
    dataUses: T.Array(Name(128), { minItems: 1, maxItems: 64, uniqueItems: true }),
    retention: T.String({ maxLength: 32 }),
  },
  { additionalProperties: false },
);

const FrontMatterSchema = T.Object(
  {
    purpose: T.String({ pattern: PURPOSE_PATTERN }),
    version: T.Integer({ minimum: 1, maximum: 999_999 }),
    language: T.String({ pattern: LANGUAGE_PATTERN }),
    title: Name(200),
    scope: NoticeScopeSchema,
    controller: T.Object({ name: Name(200), contact: Name(300) }, { additionalProperties: false }),
    withdraw: Name(2000),
  },
  { additionalProperties: false },
);
type FrontMatter = Static<typeof FrontMatterSchema>;

/** What a yes to a notice allows: dictionary collections, fideslang data categories and uses, and how long data is kept. */
export type NoticeScope = Static<typeof NoticeScopeSchema>;

/** One notice text: a version of a purpose's notice in one language. */
export interface Notice {
  readonly purpose: string;
  readonly version: number;
  readonly language: string;
  readonly title: string;
  readonly scope: NoticeScope;
  readonly controller: { readonly name: string; readonly contact: string };
  /** How to withdraw, in the notice's language. */
  readonly withdraw: string;
  /** The Markdown shown to the owner (the file after its front matter). */
  readonly text: string;
  /** SHA-256 of the whole file, hex: receipts name exactly the text that was shown. */
  readonly sha256: string;
  /** The file it came from, as problems name it. */
  readonly source: string;
}

/** Every notice, checked, with the scope rule. */
export interface Notices {
  /** Purposes that have a notice, sorted. */
  purposes(): readonly string[];
  /** The current (highest) version of a purpose, or undefined for an unknown purpose. */
  currentVersion(purpose: string): number | undefined;
  /** Languages a version is available in, sorted; empty when there is no such version. */
  languages(purpose: string, version: number): readonly string[];
  /** One notice text, or undefined. */
  get(purpose: string, version: number, language: string): Notice | undefined;
  /** True when a yes given under `version` still covers the purpose's current notice (its scope lies within that version's). */
  covers(purpose: string, version: number): boolean;
  /**
   * The versions whose yes still covers the current notice, ascending, or null
   * for a purpose without notices: the shape of the diagnostics collector's
   * `consentPolicy`.
   */
  coveringVersions(purpose: string): number[] | null;
}

/**
 * True when `inner` asks for nothing `outer` did not: every collection, data
 * category and data use it names is named by `outer` word for word, and it
 * keeps data no longer. Names are compared exactly, not by the taxonomy's
 * tree: an owner read the words of the notice, so a category newly named is
 * new to them even if a broader one was listed.
 */
export function scopeWithin(inner: NoticeScope, outer: NoticeScope): boolean {
  const within = (a: readonly string[], b: readonly string[]) => a.every((x) => b.includes(x));
  const innerRetention = parseRetention(inner.retention);
  const outerRetention = parseRetention(outer.retention);
  return (
    within(inner.collections, outer.collections) &&
    within(inner.dataCategories, outer.dataCategories) &&
    within(inner.dataUses, outer.dataUses) &&
    innerRetention !== null &&
    outerRetention !== null &&
    !outlasts(innerRetention, outerRetention)
  );
}

/** The outcome of reading and checking a notices folder. */
export interface NoticesReport {
  notices: Notices;
  /** Every problem found; the notices are unusable when there is any. */
  problems: Problem[];
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateFrontMatter = ajv.compile<FrontMatter>(FrontMatterSchema);

/**
 * Reads and checks every notice under `dir`. With a dictionary, also checks
 * that every collection collected on consent is covered by a current notice.
 * Never throws for a problem in the notices; they are returned.
 */
export function lintNotices(dir: string, dictionary?: Dictionary): NoticesReport {
  const problems: Problem[] = [];
  const found: Notice[] = [];
  let folders: string[];
  try {
    folders = readdirSync(dir).sort();
  } catch (error) {
    problems.push({
      path: labelOf(dir),
      message: `cannot read the notices folder: ${(error as Error).message}`,
    });
    return { notices: buildNotices([]), problems };
  }
  for (const folder of folders) {
    if (folder.startsWith(".")) continue;
    const folderPath = join(dir, folder);
    if (!statSync(folderPath).isDirectory()) {
      // A README may sit beside the purposes; a notice there is misfiled.
      if (NOTICE_FILE.test(folder)) {
        problems.push({
          path: labelOf(folderPath),
          message: "a notice must be filed as <purpose>/v<N>.<lang>.md, not at the top of the notices folder",
        });
      }
      continue;
    }
    if (!new RegExp(PURPOSE_PATTERN).test(folder)) {
      problems.push({
        path: labelOf(folderPath),
        message: `"${folder}" is not a purpose name (dotted lower-case words, e.g. uep.diagnostics)`,
      });
      continue;
    }
    for (const name of readdirSync(folderPath).sort()) {
      if (name.startsWith(".")) continue;
      const file = join(folderPath, name);
      const label = labelOf(file);
      if (statSync(file).isDirectory()) {
        problems.push({ path: label, message: "unexpected folder: notices are <purpose>/v<N>.<lang>.md" });
        continue;
      }
      const match = NOTICE_FILE.exec(name);
      if (!match) {
        if (name.endsWith(".md")) {
          problems.push({
            path: label,
            message: "a notice file is named v<N>.<lang>.md (e.g. v2.nb.md)",
          });
        }
        continue;
      }
      const notice = readNotice(file, label, folder, Number(match[1]), String(match[2]), problems);
      if (notice) found.push(notice);
    }
  }
  problems.push(...crossCheck(dir, found));
  const notices = buildNotices(found);
  if (dictionary) problems.push(...coverageProblems(notices, found, dictionary));
  return { notices, problems };
}

/**
 * Reads and checks the notices in `dir`, once, at start-up (and, with a
 * dictionary, their coverage of consent-based collections). Throws
 * `notice.invalid` listing every problem.
 */
export function loadNotices(dir: string, dictionary?: Dictionary): Notices {
  const { notices, problems } = lintNotices(dir, dictionary);
  if (problems.length > 0) {
    const count = problems.length;
    throw new PhoneHomeError(
      "notice.invalid",
      `the notices in ${labelOf(dir)} have ${count} problem${count === 1 ? "" : "s"}`,
      { problems },
    );
  }
  return notices;
}

/** Reads one notice file; its problems are added to `problems` and it is returned only when it has none. */
function readNotice(
  file: string,
  label: string,
  folder: string,
  version: number,
  language: string,
  problems: Problem[],
): Notice | undefined {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) {
    problems.push({
      path: label,
      message: `file is ${size} bytes; a notice may have at most ${MAX_FILE_BYTES}`,
    });
    return undefined;
  }
  const bytes = readFileSync(file);
  const content = bytes.toString("utf8");
  const split = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)([\s\S]*)$/.exec(content);
  if (!split) {
    problems.push({
      path: `${label}:1`,
      message: "a notice starts with YAML front matter between two --- lines, then the text",
    });
    return undefined;
  }
  let document: unknown;
  try {
    document = parseYaml(split[1] ?? "");
  } catch (error) {
    if (error instanceof YAMLParseError) {
      // The front matter starts on the file's second line.
      const line = error.linePos?.[0]?.line;
      problems.push({
        path: line === undefined ? label : `${label}:${line + 1}`,
        message: `front matter is not valid YAML: ${(error.message.split("\n")[0] ?? "").replace(/:$/, "")}`,
      });
    } else {
      problems.push({ path: label, message: `cannot read: ${(error as Error).message}` });
    }
    return undefined;
  }
  if (!validateFrontMatter(document)) {
    for (const e of validateFrontMatter.errors ?? []) {
      const extra = (e.params as { additionalProperty?: string; missingProperty?: string }) ?? {};
      const pointer = `${e.instancePath}${
        extra.additionalProperty !== undefined
          ? `/${extra.additionalProperty}`
          : extra.missingProperty !== undefined
            ? `/${extra.missingProperty}`
            : ""
      }`;
      problems.push({
        path: `${label}:${pointer || "/"}`,
        message:
          e.keyword === "additionalProperties"
            ? `unknown key ${JSON.stringify(extra.additionalProperty)}`
            : e.keyword === "required"
              ? `missing key ${JSON.stringify(extra.missingProperty)}`
              : (e.message ?? "is invalid"),
      });
    }
    return undefined;
  }
  const doc = document;
  const before = problems.length;
  const at = (pointer: string, message: string) => problems.push({ path: `${label}:${pointer}`, message });
  // The file's place names its purpose, version and language, so a reader of the tree is not misled.
  if (doc.purpose !== folder) at("/purpose", `says ${doc.purpose}, but the file is filed under ${folder}/`);
  if (doc.version !== version) at("/version", `says ${doc.version}, but the file is named v${version}`);
  if (doc.language !== language)
    at("/language", `says ${doc.language}, but the file is named .${language}.md`);
  doc.scope.dataCategories.forEach((c, i) => {
    if (!isDataCategory(c)) at(`/scope/dataCategories/${i}`, `"${c}" is not a data category of the taxonomy`);
  });
  doc.scope.dataUses.forEach((u, i) => {
    if (!isDataUse(u)) at(`/scope/dataUses/${i}`, `"${u}" is not a data use of the taxonomy`);
  });
  const retention = parseRetention(doc.scope.retention);
  if (retention === null || retention.expiresAt(REFERENCE).getTime() <= REFERENCE.getTime()) {
    at(
      "/scope/retention",
      `"${doc.scope.retention}" is not a positive ISO 8601 duration of days, weeks, months or years`,
    );
  }
  const text = split[2] ?? "";
  if (text.trim() === "")
    at("/", "the notice has no text after its front matter: there is nothing to show the owner");
  if (problems.length > before) return undefined;
  return Object.freeze({
    purpose: doc.purpose,
    version: doc.version,
    language: doc.language,
    title: doc.title,
    scope: Object.freeze({
      collections: Object.freeze([...doc.scope.collections]),
      dataCategories: Object.freeze([...doc.scope.dataCategories]),
      dataUses: Object.freeze([...doc.scope.dataUses]),
      retention: doc.scope.retention,
    }) as NoticeScope,
    controller: Object.freeze({ ...doc.controller }),
    withdraw: doc.withdraw,
    text,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    source: label,
  });
}

/** Rules across files: one scope and controller per version, and versions without gaps. */
function crossCheck(dir: string, found: readonly Notice[]): Problem[] {
  const problems: Problem[] = [];
  const byVersion = new Map<string, Notice>();
  const versions = new Map<string, Set<number>>();
  for (const n of found) {
    const key = `${n.purpose}\u0000${n.version}`;
    const first = byVersion.get(key);
    if (!first) {
      byVersion.set(key, n);
    } else {
      // What a yes allows must not depend on the language the owner read it in.
      if (canonicalScope(n.scope) !== canonicalScope(first.scope)) {
        problems.push({
          path: `${n.source}:/scope`,
          message: `differs from the scope of ${first.source}: every language of a version covers the same scope`,
        });
      }
      if (n.controller.name !== first.controller.name || n.controller.contact !== first.controller.contact) {
        problems.push({
          path: `${n.source}:/controller`,
          message: `differs from the controller of ${first.source}: every language of a version names the same controller`,
        });
      }
    }
    const set = versions.get(n.purpose) ?? new Set<number>();
    set.add(n.version);
    versions.set(n.purpose, set);
  }
  for (const [purpose, set] of versions) {
    const highest = Math.max(...set);
    // Consents name the version they were given under; its text must stay available for as long as they do.
    for (let v = 1; v < highest; v++) {
      if (!set.has(v)) {
        problems.push({
          path: labelOf(join(dir, purpose, `v${v}.*.md`)),
          message: `purpose ${purpose} has v${highest} but no v${v}: versions run from 1 without gaps, and none is removed`,
        });
      }
    }
  }
  return problems;
}

/**
 * Every approved collection version that collects a field on consent must be
 * named by the current notice of a purpose, which must name the field's data
 * category and use word for word and keep data at least as long: otherwise a
 * yes would not cover what the collector stores.
 */
function coverageProblems(notices: Notices, found: readonly Notice[], dictionary: Dictionary): Problem[] {
  const problems: Problem[] = [];
  const currents = notices
    .purposes()
    .map((purpose) =>
      found.find((n) => n.purpose === purpose && n.version === notices.currentVersion(purpose)),
    )
    .filter((n): n is Notice => n !== undefined);
  for (const collection of dictionary.collections) {
    if (!collection.approved) continue;
    const onConsent = collection.fields.filter((f) => f.legalBasis === "consent");
    if (onConsent.length === 0) continue;
    const covering = currents.filter((n) => n.scope.collections.includes(collection.name));
    if (covering.length === 0) {
      problems.push({
        path: collection.source,
        message: `${collection.name} v${collection.version} is collected on consent, but no current notice lists it in scope.collections`,
      });
      continue;
    }
    for (const notice of covering) {
      const noticeRetention = parseRetention(notice.scope.retention);
      for (const field of onConsent) {
        const where = `${collection.name} v${collection.version} field ${field.name}`;
        if (!notice.scope.dataCategories.includes(field.dataCategory)) {
          problems.push({
            path: `${notice.source}:/scope/dataCategories`,
            message: `does not name ${field.dataCategory}, the data category of ${where}`,
          });
        }
        if (!notice.scope.dataUses.includes(field.purpose)) {
          problems.push({
            path: `${notice.source}:/scope/dataUses`,
            message: `does not name ${field.purpose}, the data use of ${where}`,
          });
        }
        if (noticeRetention && outlasts(field.retention, noticeRetention)) {
          problems.push({
            path: `${notice.source}:/scope/retention`,
            message: `${notice.scope.retention} is shorter than the retention of ${where} (${field.retention.duration})`,
          });
        }
      }
    }
  }
  for (const notice of currents) {
    notice.scope.collections.forEach((name, i) => {
      if (!dictionary.has(name)) {
        problems.push({
          path: `${notice.source}:/scope/collections/${i}`,
          message: `the dictionary has no collection ${name}`,
        });
      }
    });
  }
  return problems;
}

/** Builds the lookup over checked notices. */
function buildNotices(found: readonly Notice[]): Notices {
  const byKey = new Map<string, Notice>();
  const current = new Map<string, number>();
  const langs = new Map<string, string[]>();
  for (const n of found) {
    byKey.set(`${n.purpose}\u0000${n.version}\u0000${n.language}`, n);
    current.set(n.purpose, Math.max(current.get(n.purpose) ?? 0, n.version));
    const key = `${n.purpose}\u0000${n.version}`;
    langs.set(key, [...(langs.get(key) ?? []), n.language].sort());
  }
  const scopeOf = (purpose: string, version: number): NoticeScope | undefined => {
    const language = langs.get(`${purpose}\u0000${version}`)?.[0];
    return language === undefined
      ? undefined
      : byKey.get(`${purpose}\u0000${version}\u0000${language}`)?.scope;
  };
  // Which versions a yes may have been given under and still hold, per purpose, decided once.
  const covering = new Map<string, Set<number>>();
  for (const [purpose, version] of current) {
    const now = scopeOf(purpose, version);
    const set = new Set<number>();
    for (let v = 1; v <= version; v++) {
      const then = scopeOf(purpose, v);
      if (now && then && scopeWithin(now, then)) set.add(v);
    }
    covering.set(purpose, set);
  }
  const purposes = Object.freeze([...current.keys()].sort());
  return Object.freeze({
    purposes: () => purposes,
    currentVersion: (purpose: string) => current.get(purpose),
    languages: (purpose: string, version: number) => langs.get(`${purpose}\u0000${version}`) ?? [],
    get: (purpose: string, version: number, language: string) =>
      byKey.get(`${purpose}\u0000${version}\u0000${language}`),
    covers: (purpose: string, version: number) => covering.get(purpose)?.has(version) ?? false,
    coveringVersions: (purpose: string) => {
      const set = covering.get(purpose);
      return set ? [...set].sort((a, b) => a - b) : null;
    },
  });
}

function canonicalScope(scope: NoticeScope): string {
  return JSON.stringify({
    collections: [...scope.collections].sort(),
    dataCategories: [...scope.dataCategories].sort(),
    dataUses: [...scope.dataUses].sort(),
    retention: scope.retention,
  });
}

// Retentions are compared by where they end when started on the same day (as the dictionary does).
const REFERENCE = new Date(Date.UTC(2001, 0, 1));

function outlasts(a: Retention, b: Retention): boolean {
  return a.expiresAt(REFERENCE).getTime() > b.expiresAt(REFERENCE).getTime();
}

/** The name problems give a file: relative to the working directory when it lies inside it. */
function labelOf(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === "") return ".";
  const inside = !rel.startsWith("..") && !isAbsolute(rel);
  return (inside ? rel : path).split(sep).join("/");
}
