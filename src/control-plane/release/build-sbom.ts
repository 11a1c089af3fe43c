/**
 * Writes CycloneDX JSON SBOMs with the CycloneDX library: for the demo, the
 * examples and tests. A maker's build system writes its own; this is what one
 * looks like to the release gate.
 */
import { Enums, Models, Serialize, Spec } from "@cyclonedx/cyclonedx-library";
import { PROPERTY } from "./sbom.ts";

/** A component and what it does, in the `phonehome:` properties the gate reads. */
export interface ComponentSpec {
  name: string;
  version: string;
  /** Package URL, e.g. `pkg:android/com.example.app@1.0`. */
  purl?: string;
  endpoints?: string[];
  collections?: string[];
  allowedRegions?: string[];
  allowedVariants?: string[];
}

/** A build: its number, the software it belongs to, and its packages. */
export interface BuildSpec {
  /** The build number, e.g. `00WW_3_39B_SP03`. */
  number: string;
  /** What the build is of, e.g. `TA-1062 00WW`. */
  product: string;
  components: ComponentSpec[];
  /** A fixed serial number (`urn:uuid:...`) for reproducible documents. */
  serialNumber?: string;
}

/** The SBOM of `build` as CycloneDX 1.6 JSON text. */
export function buildSbom(build: BuildSpec): string {
  const bom = new Models.Bom();
  if (build.serialNumber !== undefined) bom.serialNumber = build.serialNumber;
  bom.metadata.component = new Models.Component(Enums.ComponentType.OperatingSystem, build.product, {
    version: build.number,
    bomRef: `build:${build.number}`,
  });
  for (const spec of build.components) {
    const component = new Models.Component(Enums.ComponentType.Application, spec.name, {
      version: spec.version,
      bomRef: `${spec.name}@${spec.version}`,
    });
    if (spec.purl !== undefined) component.purl = spec.purl;
    const add = (name: string, values: readonly string[] | undefined) => {
      for (const value of values ?? []) component.properties.add(new Models.Property(name, value));
    };
    add(PROPERTY.endpoint, spec.endpoints);
    add(PROPERTY.collection, spec.collections);
    add(PROPERTY.allowedRegion, spec.allowedRegions);
    add(PROPERTY.allowedVariant, spec.allowedVariants);
    bom.components.add(component);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return serializer.serialize(bom, { sortLists: true, space: 2 });
}
