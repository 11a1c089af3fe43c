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
      mode: "floor";
      bodyLimit: number;
      /** Factory document (JSON) whose device public keys are imported before declaring ready. */
      factoryFile: string;
    }
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
  /** Devices provisioned (phonehome), or whose keys were imported (floor), before the measured window. */
  devices?: number;
  /** The service token, which `/metrics` asks for (phonehome only). */
  serviceToken?: string;
  /** The X25519 public key (base64url) envelopes are sealed to, for region `FLOOR_REGION` (floor only). */
  publicKey?: string;
  /** The id of that key, `rk_...` (floor only). */
  kid?: string;
  pid: number;
}

/** The region whose seal info (`sealInfo`) the floor opens with, as region `global`'s collector does. */
export const FLOOR_REGION = "global";

/** Request body limit of every server, in bytes: the collector's default, so the bare and floor routes are held to it too. */
export const BODY_LIMIT = 64 * 1024;
