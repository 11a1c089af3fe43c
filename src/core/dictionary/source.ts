/** The dictionary's files as read from disk, before their contents are checked. */
import type { Problem } from "../errors/index.ts";

/** One file that parsed as YAML, before its contents are checked. */
export interface SourceFile {
  /** Absolute path. */
  file: string;
  /** How problems name the file: relative to the working directory when inside it, else absolute. */
  label: string;
  /** The folder (the collection the file is filed under). */
  folder: string;
  /** The file's own name, e.g. `v1.yaml`. */
  name: string;
  document: unknown;
}

/** The files read, and what could not be read. */
export interface ReadResult {
  files: SourceFile[];
  /** `reviewers.yaml` at the top of the folder: whose approval signatures count. */
  reviewers?: SourceFile;
  problems: Problem[];
}
