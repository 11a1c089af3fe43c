/** Which variant a release is for, named as operators name it. */
import { PhoneHomeError } from "../errors/index.ts";
import type { ReleaseTarget } from "./gate.ts";

/** A registered variant, as the fleet registry lists it. */
export interface VariantRow {
  model: string;
  id: string;
  region: string;
}

/**
 * Finds the variant `variant` (`00WW`, or `TA-1062/00WW`) of `model` (when
 * given) among the registered ones; throws `fleet.not_found` when there is
 * none, `release.variant_ambiguous` when several models have one of that id.
 */
export function resolveTarget(
  variants: readonly VariantRow[],
  variant: string,
  model?: string,
): ReleaseTarget {
  const slash = variant.indexOf("/");
  const wantedModel = slash === -1 ? model : variant.slice(0, slash);
  const wantedId = slash === -1 ? variant : variant.slice(slash + 1);
  if (slash !== -1 && model !== undefined && model !== wantedModel) {
    throw new PhoneHomeError(
      "release.variant_ambiguous",
      `--variant names model ${wantedModel}, --model ${model}`,
      {
        path: "--model",
      },
    );
  }
  const matches = variants.filter(
    (v) => v.id === wantedId && (wantedModel === undefined || v.model === wantedModel),
  );
  const [only] = matches;
  if (only === undefined) {
    const known = variants.map((v) => `${v.model}/${v.id}`).join(", ") || "none";
    throw new PhoneHomeError(
      "fleet.not_found",
      `no variant ${wantedModel === undefined ? "" : `${wantedModel}/`}${wantedId} is registered (registered: ${known})`,
      { path: "--variant" },
    );
  }
  if (matches.length > 1) {
    throw new PhoneHomeError(
      "release.variant_ambiguous",
      `variant ${wantedId} exists for models ${matches.map((m) => m.model).join(", ")}: name one with MODEL/${wantedId} or --model`,
      { path: "--variant" },
    );
  }
  return { model: only.model, variant: only.id, region: only.region };
}
