/**
 * A build's manifest: a CycloneDX JSON SBOM, validated against the CycloneDX
 * schema of its `specVersion` by the CycloneDX library, and read into what
 * the release gate needs. A component says what it does through properties
 * in the `phonehome:` namespace (each may repeat):
 *
 * - `phonehome:endpoint` — a URL or host the component talks to;
 * - `phonehome:collection` — a collection it sends, `name` or `name@version`;
 * - `phonehome:allowed-region` — a region whose variants it may ship in;
 * - `phonehome:allowed-variant` — a variant it may ship in (`00CN` or `TA-1062/00CN`).
 */
import { Spec, Validation } from "@cyclonedx/cyclonedx-library";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";

/** The property names the gate reads. */
export const PROPERTY = {
  endpoint: "phonehome:endpoint",
  collection: "phonehome:collection",
  allowedRegion: "phonehome:allowed-region",
  allowedVariant: "phonehome:allowed-variant",
} as const;

/** The spec versions accepted: those the library has a JSON schema for, from 1.4 on (properties came in 1.3). */
const VERSIONS: ReadonlyMap<string, Spec.Version> = new Map([
  ["1.4", Spec.Version.v1dot4],
  ["1.5", Spec.Version.v1dot5],
  ["1.6", Spec.Version.v1dot6],
  ["1.7", Spec.Version.v1dot7],
]);

/** Most bytes an SBOM may have: a phone build lists a few thousand packages. */
export const MAX_SBOM_BYTES = 16 * 1024 * 1024;

/** One component as the gate sees it. */
export interface SbomComponent {
  /** Where it sits in the SBOM, as a JSON pointer (`/components/3`), for reports. */
  pointer: string;
  name: string;
  version: string | undefined;
  purl: string | undefined;
  endpoints: string[];
  collections: string[];
  allowedRegions: string[];
  allowedVariants: string[];
}

/** An SBOM read and checked. */
export interface Sbom {
  specVersion: string;
  serialNumber: string | undefined;
  /** The build the SBOM describes (`metadata.component`), when it names one. */
  subject: { name: string; version: string | undefined } | undefined;
  components: SbomComponent[];
}

interface RawComponent {
  name?: unknown;
  version?: unknown;
  purl?: unknown;
  properties?: { name?: unknown; value?: unknown }[];
  components?: RawComponent[];
}

const validators = new Map<Spec.Version, Validation.JsonStrictValidator>();

function invalid(message: string, problems?: Problem[], path = "/"): PhoneHomeError {
  return new PhoneHomeError("release.sbom_invalid", message, problems ? { path, problems } : { path });
}

/**
 * Parses and validates a CycloneDX JSON SBOM; throws `release.sbom_invalid`
 * with the schema's complaints when it is not one.
 */
export async function readSbom(text: string): Promise<Sbom> {
  if (Buffer.byteLength(text) > MAX_SBOM_BYTES) {
    throw invalid(`the SBOM is larger than ${MAX_SBOM_BYTES / 1024 / 1024} MiB`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw invalid(`the SBOM is not JSON: ${(error as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw invalid("the SBOM is not a JSON object");
  const { bomFormat, specVersion } = doc as { bomFormat?: unknown; specVersion?: unknown };
  if (bomFormat !== "CycloneDX")
    throw invalid('bomFormat must be "CycloneDX" (only CycloneDX JSON is read)', undefined, "/bomFormat");
  const version = typeof specVersion === "string" ? VERSIONS.get(specVersion) : undefined;
  if (version === undefined) {
    throw invalid(
      `specVersion ${JSON.stringify(specVersion)} is not one this gate reads (${[...VERSIONS.keys()].join(", ")})`,
      undefined,
      "/specVersion",
    );
  }
  let validator = validators.get(version);
  if (!validator) {
    validator = new Validation.JsonStrictValidator(version);
    validators.set(version, validator);
  }
  const errors = (await validator.validate(text)) as { instancePath?: string; message?: string }[] | null;
  if (errors !== null) {
    const problems = errors
      .slice(0, 50)
      .map((e) => ({ path: e.instancePath || "/", message: e.message ?? "is invalid" }));
    throw invalid(
      `the SBOM does not follow the CycloneDX ${specVersion} schema`,
      problems,
      problems[0]?.path,
    );
  }
  const bom = doc as {
    serialNumber?: string;
    metadata?: { component?: RawComponent };
    components?: RawComponent[];
  };
  const components: SbomComponent[] = [];
  const walk = (list: RawComponent[] | undefined, at: string) => {
    for (const [i, raw] of (list ?? []).entries()) {
      const pointer = `${at}/${i}`;
      components.push(componentOf(raw, pointer));
      walk(raw.components, `${pointer}/components`);
    }
  };
  walk(bom.components, "/components");
  const subject = bom.metadata?.component;
  return {
    specVersion: specVersion as string,
    serialNumber: bom.serialNumber,
    subject:
      subject && typeof subject.name === "string"
        ? { name: subject.name, version: typeof subject.version === "string" ? subject.version : undefined }
        : undefined,
    components,
  };
}

function componentOf(raw: RawComponent, pointer: string): SbomComponent {
  const values = (name: string) =>
    (raw.properties ?? [])
      .filter((p) => p.name === name && typeof p.value === "string" && p.value.trim() !== "")
      .map((p) => (p.value as string).trim());
  return {
    pointer,
    name: String(raw.name),
    version: typeof raw.version === "string" ? raw.version : undefined,
    purl: typeof raw.purl === "string" ? raw.purl : undefined,
    endpoints: values(PROPERTY.endpoint),
    collections: values(PROPERTY.collection),
    allowedRegions: values(PROPERTY.allowedRegion),
    allowedVariants: values(PROPERTY.allowedVariant),
  };
}
