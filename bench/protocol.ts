/**
 * What `bench/run.ts` (the load generator) and `bench/server.ts` (the server
 * under test) agree on: the spec the parent passes as the child's argument,
 * and the line the child prints when it listens.
 */
import type { StoreConfig } from "../src/core/db/index.ts";

/** What the parent asks the child to run. */
export type ServerSpec =
  | { mode: "bare"; bodyLimit: number }
  | {
      mode: "phonehome";
      /** Keys, secrets; a temporary directory the parent removes. */
      dataDir: string;
      control: StoreConfig;
      /** Store of region `global`, the one under load. */
      global: StoreConfig;
      /** Store of region `cn`: declared because the shipped dictionary names it; it takes no load. */
      cn: StoreConfig;
      /** Factory document (JSON) to import before declaring ready. */
      factoryFile: string;
    };

/** The line the child prints when it is ready. */
export interface ReadyLine {
  ready: true;
  mode: ServerSpec["mode"];
  /** Base URL of the endpoint under test. */
  url: string;
  /** Devices provisioned before the measured window (phonehome only). */
  devices?: number;
  /** The service token, which `/metrics` asks for (phonehome only). */
  serviceToken?: string;
  pid: number;
}

/** Request body limit of both servers, in bytes: the collector's default, so the bare route is held to it too. */
export const BODY_LIMIT = 64 * 1024;
