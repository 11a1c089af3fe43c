/**
 * The incident's builds as SBOMs: the worldwide build that shipped to a Norway
 * batch with the China variant's self-registration client in it, and the build
 * that fixed it. The demo, the examples and the tests use them.
 */
import type { BuildSpec, ComponentSpec } from "./build-sbom.ts";

const SETTINGS: ComponentSpec = {
  name: "com.android.settings",
  version: "9",
  purl: "pkg:android/com.android.settings@9",
};
const NETWORK_TIME: ComponentSpec = {
  name: "com.android.networktime",
  version: "9",
  endpoints: ["https://time.android.com"],
};
const SDK: ComponentSpec = {
  name: "org.phonehome.sdk",
  version: "0.1.0",
  collections: ["activation@1", "uep.diagnostics@1"],
};
/** The China variant's self-registration client (the package policy knows where it may ship and what it talks to). */
export const CHINA_CLIENT: ComponentSpec = { name: "com.qualcomm.qti.autoregistration", version: "1.0" };

/** The build that shipped to one Norway batch: the worldwide build with the China client in it. */
export const INCIDENT_BUILD: BuildSpec = {
  number: "00WW_3_39B_SP02",
  product: "TA-1062 00WW",
  serialNumber: "urn:uuid:6f1d9a57-2c1e-4b38-9c0e-0a1b2c3d4e01",
  components: [SETTINGS, NETWORK_TIME, SDK, CHINA_CLIENT],
};

/** The build that fixed it: the same, without the China client. */
export const FIXED_BUILD: BuildSpec = {
  number: "00WW_3_39B_SP03",
  product: "TA-1062 00WW",
  serialNumber: "urn:uuid:6f1d9a57-2c1e-4b38-9c0e-0a1b2c3d4e02",
  components: [SETTINGS, NETWORK_TIME, SDK],
};
