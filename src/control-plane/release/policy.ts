/**
 * The package policy: what the maker knows about the packages that go into
 * builds (which regions or variants a package may ship in, which endpoints it
 * talks to, which collections it sends) and which third-party endpoints are
 * approved. One YAML file, `policy/packages.yaml` by default. The release
 * gate adds it to what each build's SBOM says about its own components.
 */
import { readFileSync } from "node:fs";
import { type Static, Type as T } from "@sinclair/typebox";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { isDataCategory } from "../../core/dictionary/index.ts";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";

const Name = T.String({
  minLength: 1,
  maxLength: 214,
  description: "the package (component) name, e.g. an Android package",
});
const RegionId = T.String({ pattern: "^[a-z][a-z0-9-]{0,30}$" });
const VariantRef = T.String({
  pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$",
  description: "a variant id (`00CN`), or model and variant (`TA-1062/00CN`)",
});
const Endpoint = T.String({ minLength: 1, maxLength: 2048, description: "a URL or a host name" });
const CollectionRef = T.String({
  pattern: "^[a-z][a-z0-9._-]{0,63}(@[1-9][0-9]{0,5})?$",
  description: "a collection, optionally with its version: `activation@1`",
});

const PackageEntry = T.Object(
  {
    name: Name,
    description: T.Optional(T.String({ maxLength: 1000 })),
    regions: T.Optional(T.Array(RegionId, { description: "allowed only in variants of these regions" })),
    variants: T.Optional(T.Array(VariantRef, { description: "allowed only in these variants" })),
    endpoints: T.Optional(T.Array(Endpoint, { description: "endpoints the package is known to talk to" })),
    collections: T.Optional(T.Array(CollectionRef, { description: "collections the package sends" })),
    dataCategories: T.Optional(
      T.Array(T.String({ minLength: 1, maxLength: 100 }), {
        description:
          "data categories (taxonomy names) the package is known to send outside phonehome's collections; an incident about a build that carries it names them",
      }),
    ),
  },
  { additionalProperties: false },
);

const ThirdParty = T.Object(
  {
    host: T.String({ pattern: "^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$", description: "host, or host:port" }),
    description: T.String({ minLength: 1, maxLength: 1000, description: "who it is and why it is approved" }),
    regions: T.Optional(T.Array(RegionId, { description: "approved only for variants of these regions" })),
  },
  { additionalProperties: false },
);

export const PackagePolicySchema = T.Object(
  {
    version: T.Literal(1),
    packages: T.Array(PackageEntry, { default: [] }),
    thirdParties: T.Optional(T.Array(ThirdParty)),
  },
  { additionalProperties: false },
);

/** A package as the policy describes it. */
export type PackageEntry = Static<typeof PackageEntry>;
/** An approved third-party endpoint. */
export type ThirdParty = Static<typeof ThirdParty>;

/** The policy, loaded and checked. */
export interface PackagePolicy {
  /** Where it was read from (for messages). */
  source: string;
  packages: ReadonlyMap<string, PackageEntry>;
  thirdParties: readonly ThirdParty[];
}

const check = new Ajv({ allErrors: true, strict: false }).compile(PackagePolicySchema);

/** Builds a policy from a parsed document; throws `release.policy_invalid` listing every problem. */
export function packagePolicyOf(document: unknown, source: string): PackagePolicy {
  if (!check(document)) {
    const problems: Problem[] = (check.errors ?? []).map((e) => ({
      path: e.instancePath || "/",
      message: e.message ?? "is invalid",
    }));
    throw new PhoneHomeError("release.policy_invalid", `the package policy ${source} is invalid`, {
      path: problems[0]?.path ?? "/",
      problems,
    });
  }
  const doc = document as Static<typeof PackagePolicySchema>;
  const packages = new Map<string, PackageEntry>();
  const problems: Problem[] = [];
  for (const [i, entry] of doc.packages.entries()) {
    if (packages.has(entry.name)) {
      problems.push({ path: `/packages/${i}/name`, message: `${entry.name} is listed twice` });
    }
    packages.set(entry.name, entry);
    for (const [j, category] of (entry.dataCategories ?? []).entries()) {
      if (!isDataCategory(category)) {
        problems.push({
          path: `/packages/${i}/dataCategories/${j}`,
          message: `${category} is not a data category of the taxonomy (docs/dictionary.md)`,
        });
      }
    }
  }
  if (problems.length > 0) {
    throw new PhoneHomeError("release.policy_invalid", `the package policy ${source} is invalid`, {
      path: problems[0]?.path ?? "/",
      problems,
    });
  }
  return { source, packages, thirdParties: doc.thirdParties ?? [] };
}

/** Reads and checks the policy file; throws `release.policy_invalid` when it cannot be read or is invalid. */
export function loadPackagePolicy(file: string): PackagePolicy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new PhoneHomeError(
      "release.policy_invalid",
      `cannot read the package policy: ${(error as Error).message}`,
      {
        path: file,
      },
    );
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new PhoneHomeError(
      "release.policy_invalid",
      `the package policy ${file} is not YAML: ${(error as Error).message}`,
      {
        path: file,
      },
    );
  }
  return packagePolicyOf(document, file);
}
