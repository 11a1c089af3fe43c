/**
 * Reads the dictionary folder: one YAML file per collection version, at
 * `<dir>/<collection>/v<N>.yaml`. Reading never stops at the first problem;
 * every unreadable or misplaced file is reported with the others.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { PhoneHomeError, type Problem } from "../errors/index.ts";
import { compileDictionary, type Dictionary } from "./compile.ts";
import { type LintOptions, type LintReport, lintFiles } from "./lint.ts";
import type { ReadResult, SourceFile } from "./source.ts";

export type { ReadResult, SourceFile } from "./source.ts";

/** The one YAML file at the top of the dictionary: the reviewers and their public keys. */
export const REVIEWERS_FILE = "reviewers.yaml";

// A collection file is a few kilobytes; anything far larger is a mistake, not a collection.
const MAX_FILE_BYTES = 1024 * 1024;
const YAML_FILE = /\.ya?ml$/i;

/** Reads every collection file under `dir`. Problems (unreadable folder, stray or broken files) are returned, not thrown. */
export function readDictionaryFiles(dir: string): ReadResult {
  const files: SourceFile[] = [];
  const problems: Problem[] = [];
  let reviewers: SourceFile | undefined;
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (error) {
    problems.push({
      path: labelOf(dir),
      message: `cannot read the dictionary folder: ${(error as Error).message}`,
    });
    return { files, problems };
  }
  for (const folder of entries) {
    if (folder.startsWith(".")) continue;
    const folderPath = join(dir, folder);
    if (folder === REVIEWERS_FILE) {
      reviewers = readYaml(folderPath, "", folder, problems);
      continue;
    }
    if (!statSync(folderPath).isDirectory()) {
      // READMEs and the like may sit beside the collections; a YAML file there is misfiled.
      if (YAML_FILE.test(folder)) {
        problems.push({
          path: labelOf(folderPath),
          message: `a collection file must be filed as <collection>/v<N>.yaml; the only YAML file at the top of the dictionary is ${REVIEWERS_FILE}`,
        });
      }
      continue;
    }
    for (const name of readdirSync(folderPath).sort()) {
      if (name.startsWith(".")) continue;
      const file = join(folderPath, name);
      if (statSync(file).isDirectory()) {
        problems.push({
          path: labelOf(file),
          message: "unexpected folder: collection files are <collection>/v<N>.yaml",
        });
        continue;
      }
      if (!YAML_FILE.test(name)) continue;
      const read = readYaml(file, folder, name, problems);
      if (read !== undefined) files.push(read);
    }
  }
  return { files, reviewers, problems };
}

/** Reads and parses one YAML file; a problem is recorded and undefined returned when it cannot be. */
function readYaml(file: string, folder: string, name: string, problems: Problem[]): SourceFile | undefined {
  const label = labelOf(file);
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) {
    problems.push({
      path: label,
      message: `file is ${size} bytes; a dictionary file may have at most ${MAX_FILE_BYTES}`,
    });
    return undefined;
  }
  try {
    return { file, label, folder, name, document: parseYaml(readFileSync(file, "utf8")) };
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const line = error.linePos?.[0]?.line;
      problems.push({
        path: line === undefined ? label : `${label}:${line}`,
        message: `not valid YAML: ${(error.message.split("\n")[0] ?? "").replace(/:$/, "")}`,
      });
    } else {
      problems.push({ path: label, message: `cannot read: ${(error as Error).message}` });
    }
    return undefined;
  }
}

/** Reads and lints the dictionary in `dir`; never throws for a problem in the dictionary itself. */
export function lintDictionary(dir: string, options: LintOptions): LintReport {
  return lintFiles(readDictionaryFiles(dir), options);
}

/**
 * Reads, lints and compiles the dictionary in `dir`, once, at start-up.
 * Throws `dictionary.invalid` listing every error; returns the warnings beside the dictionary,
 * with the refusals first (versions that load unapproved, whose data collectors refuse).
 */
export function loadDictionary(
  dir: string,
  options: LintOptions,
): { dictionary: Dictionary; warnings: Problem[] } {
  const report = lintDictionary(dir, options);
  if (report.errors.length > 0) {
    const count = report.errors.length;
    throw new PhoneHomeError(
      "dictionary.invalid",
      `the data dictionary in ${labelOf(dir)} has ${count} error${count === 1 ? "" : "s"}`,
      {
        problems: report.errors,
      },
    );
  }
  return {
    dictionary: compileDictionary(report.checked),
    warnings: [...report.refusals, ...report.warnings],
  };
}

/** The name problems give a file: relative to the working directory when it lies inside it. */
export function labelOf(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === "") return ".";
  const inside = !rel.startsWith("..") && !isAbsolute(rel);
  return (inside ? rel : path).split(sep).join("/");
}
