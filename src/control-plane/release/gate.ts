/**
 * The release gate: a build passes for a variant, or is blocked with every
 * reason listed. It reads what the SBOM says of each component and what the
 * package policy knows of it, and checks them against the variant's region:
 *
 * - `component.not_allowed`: the component may ship only in other regions' or
 *   other variants' builds (the incident: the China variant's activation
 *   client in a build for Norway);
 * - `endpoint.unapproved`: it talks to something that is neither a collector
 *   of the variant's region nor an approved third party (another region's
 *   collector included);
 * - `endpoint.plaintext`: it talks plain `http://` off this machine;
 * - `collection.unapproved`: it sends a collection the dictionary does not
 *   have, or has not approved;
 * - `collection.not_allowed`: it sends a collection that may not be stored in
 *   the variant's region.
 */
import type { Dictionary } from "../../core/dictionary/index.ts";
import type { PackagePolicy } from "./policy.ts";
import type { Sbom } from "./sbom.ts";

/** Why a build is blocked. */
export type FindingCode =
  | "component.not_allowed"
  | "endpoint.unapproved"
  | "endpoint.plaintext"
  | "collection.unapproved"
  | "collection.not_allowed";

/** What each code means, for reports and SARIF rules. */
export const FINDINGS: Readonly<Record<FindingCode, string>> = {
  "component.not_allowed": "A component that may ship only in other regions' or variants' builds",
  "endpoint.unapproved":
    "An endpoint that is neither a collector of the variant's region nor an approved third party",
  "endpoint.plaintext": "A plain http:// endpoint off this machine",
  "collection.unapproved": "A collection the dictionary does not have or has not approved",
  "collection.not_allowed": "A collection that may not be stored in the variant's region",
};

/** One reason a build is blocked. */
export interface Finding {
  code: FindingCode;
  /** The component's name and version, and where it is in the SBOM. */
  component: string;
  version: string | undefined;
  pointer: string;
  message: string;
  endpoint?: string;
  collection?: string;
}

/** The variant a build is checked for. */
export interface ReleaseTarget {
  model: string;
  variant: string;
  /** The variant's region (from the fleet registry). */
  region: string;
}

/** What the gate checks against. */
export interface GateContext {
  policy: PackagePolicy;
  dictionary: Dictionary;
  /** Each configured region's collector URL, as devices reach it. */
  collectors: ReadonlyMap<string, string>;
  /** "Now", for approvals that run out (default: the time of the check). */
  now?: Date;
}

/** The gate's answer. */
export interface Verdict {
  passed: boolean;
  target: ReleaseTarget;
  /** The build the SBOM names (`metadata.component`), when it names one. */
  subject: { name: string; version: string | undefined } | undefined;
  /** Components read. */
  components: number;
  findings: Finding[];
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

interface ParsedEndpoint {
  scheme: string | null;
  /** host[:port], lower case. */
  host: string;
  hostname: string;
}

/** Reads an endpoint written as a URL (`https://host:port/path`) or a bare host (`zzhc.vnet.cn`). */
export function parseEndpoint(text: string): ParsedEndpoint | null {
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
      const url = new URL(text);
      if (url.host === "") return null;
      return {
        scheme: url.protocol.slice(0, -1).toLowerCase(),
        host: url.host.toLowerCase(),
        hostname: url.hostname.toLowerCase(),
      };
    }
    const url = new URL(`placeholder://${text}`);
    if (url.host === "" || url.username !== "" || url.password !== "") return null;
    return { scheme: null, host: url.host.toLowerCase(), hostname: url.hostname.toLowerCase() };
  } catch {
    return null;
  }
}

/** Checks an SBOM for a variant; never throws for what the SBOM says, only reports it. */
export function checkRelease(sbom: Sbom, target: ReleaseTarget, ctx: GateContext): Verdict {
  const findings: Finding[] = [];
  const collectorOf = new Map<string, string>(); // host -> region
  for (const [region, url] of ctx.collectors) {
    const parsed = parseEndpoint(url);
    if (parsed) collectorOf.set(parsed.host, region);
  }
  for (const component of sbom.components) {
    const known = ctx.policy.packages.get(component.name);
    const find = (code: FindingCode, message: string, extra: Partial<Finding> = {}) =>
      findings.push({
        code,
        component: component.name,
        version: component.version,
        pointer: component.pointer,
        message,
        ...extra,
      });
    const label = `${component.name}${component.version === undefined ? "" : ` ${component.version}`}`;

    // Where it may ship: the SBOM's own word and the policy's, both binding.
    const regions = [...component.allowedRegions, ...(known?.regions ?? [])];
    const variants = [...component.allowedVariants, ...(known?.variants ?? [])];
    const variantOk =
      variants.length === 0 ||
      variants.some((v) => v === target.variant || v === `${target.model}/${target.variant}`);
    if (regions.length > 0 && !regions.includes(target.region)) {
      find(
        "component.not_allowed",
        `${label} may ship only in variants of region ${unique(regions).join(", ")}; ${target.model}/${target.variant} belongs to region ${target.region}` +
          (known?.description ? ` (${known.description})` : ""),
      );
    } else if (!variantOk) {
      find(
        "component.not_allowed",
        `${label} may ship only in variants ${unique(variants).join(", ")}, not ${target.model}/${target.variant}`,
      );
    }

    for (const endpoint of unique([...component.endpoints, ...(known?.endpoints ?? [])])) {
      checkEndpoint(endpoint, label, target, ctx, collectorOf, find);
    }
    for (const ref of unique([...component.collections, ...(known?.collections ?? [])])) {
      checkCollection(ref, label, target, ctx.dictionary, ctx.now ?? new Date(), find);
    }
  }
  return {
    passed: findings.length === 0,
    target,
    subject: sbom.subject,
    components: sbom.components.length,
    findings,
  };
}

type Find = (code: FindingCode, message: string, extra?: Partial<Finding>) => void;

function checkEndpoint(
  endpoint: string,
  label: string,
  target: ReleaseTarget,
  ctx: GateContext,
  collectorOf: ReadonlyMap<string, string>,
  find: Find,
): void {
  const parsed = parseEndpoint(endpoint);
  if (parsed === null) {
    find("endpoint.unapproved", `${label} names an endpoint that is neither a URL nor a host: ${endpoint}`, {
      endpoint,
    });
    return;
  }
  if (parsed.scheme === "http" && !LOOPBACK.has(parsed.hostname)) {
    find(
      "endpoint.plaintext",
      `${label} talks plain HTTP to ${endpoint}: anything it sends can be read on the way`,
      {
        endpoint,
      },
    );
  }
  const region = collectorOf.get(parsed.host);
  if (region === target.region) return;
  if (region !== undefined) {
    find(
      "endpoint.unapproved",
      `${label} talks to ${endpoint}, the collector of region ${region}; devices of ${target.model}/${target.variant} belong to region ${target.region}`,
      { endpoint },
    );
    return;
  }
  const approved = ctx.policy.thirdParties.find(
    (t) =>
      (t.host.toLowerCase() === parsed.host || t.host.toLowerCase() === parsed.hostname) &&
      (t.regions === undefined || t.regions.includes(target.region)),
  );
  if (approved) return;
  find(
    "endpoint.unapproved",
    `${label} talks to ${endpoint}, which is neither a collector of region ${target.region} nor an approved third party`,
    { endpoint },
  );
}

function checkCollection(
  ref: string,
  label: string,
  target: ReleaseTarget,
  dictionary: Dictionary,
  now: Date,
  find: Find,
): void {
  const match = /^([^@]+)(?:@(\d+))?$/.exec(ref);
  const name = match?.[1] ?? ref;
  const version = match?.[2] === undefined ? undefined : Number(match[2]);
  if (!dictionary.has(name)) {
    find("collection.unapproved", `${label} sends ${ref}, which the dictionary does not have`, {
      collection: ref,
    });
    return;
  }
  const candidates = (version === undefined ? dictionary.versions(name) : [version])
    .map((v) => dictionary.get(name, v))
    .filter((c) => c !== undefined);
  // A version whose approval ran out is refused by collectors: it counts as not approved.
  const approved = candidates.filter((c) => c.approved && !c.expiredAt(now));
  if (approved.length === 0) {
    find(
      "collection.unapproved",
      version !== undefined && candidates.length === 0
        ? `${label} sends ${ref}: ${name} has no version ${version}`
        : `${label} sends ${ref}, which is not approved (or its approval ran out)`,
      { collection: ref },
    );
    return;
  }
  if (!approved.some((c) => c.allowedIn(target.region))) {
    find(
      "collection.not_allowed",
      `${label} sends ${ref}, which may not be stored in region ${target.region}`,
      {
        collection: ref,
      },
    );
  }
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
