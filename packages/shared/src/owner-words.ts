/**
 * The one glossary owners read: the dictionary's names and the store's tables
 * in plain words, for the portal and for a region's written summary of an
 * access request alike. A name not listed here is shown as it is.
 */

/** The lawful bases of GDPR Art. 6(1)(a)-(f), by their usual short names. */
export const LEGAL_BASES = [
  "consent",
  "contract",
  "legal_obligation",
  "vital_interests",
  "public_task",
  "legitimate_interests",
] as const;

/** A lawful basis of GDPR Art. 6(1). */
export type LegalBasis = (typeof LEGAL_BASES)[number];

const BASES: Readonly<Record<LegalBasis, { words: string; article: string }>> = {
  consent: { words: "you agreed to it (consent), and can withdraw", article: "GDPR Art. 6(1)(a)" },
  contract: { words: "the sales contract and its warranty (contract)", article: "GDPR Art. 6(1)(b)" },
  legal_obligation: { words: "the law requires it (legal obligation)", article: "GDPR Art. 6(1)(c)" },
  vital_interests: { words: "to protect someone's life (vital interests)", article: "GDPR Art. 6(1)(d)" },
  public_task: { words: "a task in the public interest (public task)", article: "GDPR Art. 6(1)(e)" },
  legitimate_interests: {
    words: "the maker's legitimate interest (legitimate interests)",
    article: "GDPR Art. 6(1)(f)",
  },
};

const PURPOSES: Readonly<Record<string, string>> = {
  "essential.service.operations.support.warranty": "Your warranty",
  "essential.service.operations.support": "Support for your device",
  "essential.service.upgrades": "Software updates",
  "essential.service.security": "Security of your device",
  "essential.legal_obligation": "What the law requires us to keep",
  "analytics.reporting.system.performance": "How well the software performs (User Experience Program)",
  "functional.service.improve": "Improving the software",
};

const TRANSFORMS: Readonly<Record<string, string>> = {
  keep: "as sent",
  pseudonymise: "only as a pseudonym, not the value itself",
  coarsen: "only rounded (a day, a bucket), not the exact value",
  drop: "never stored",
};

const RECORDS: Readonly<Record<string, string>> = {
  activations: "Warranty activation",
  diagnostics_events: "Diagnostics (User Experience Program)",
  consents: "Your decisions",
  consent_history: "Earlier decisions and their receipts",
  notice_deliveries: "Notices sent to your device",
  device_builds: "The software your device runs",
};

function isBasis(name: string): name is LegalBasis {
  return (LEGAL_BASES as readonly string[]).includes(name);
}

/** Why a record may be held, in plain words (`contract` → "the sales contract and its warranty (contract)"). */
export const basisWords = (name: string): string => (isBasis(name) ? BASES[name].words : name);
/** The article of the GDPR a lawful basis is, e.g. `GDPR Art. 6(1)(b)`; null for a name that is none. */
export const basisArticle = (name: string): string | null => (isBasis(name) ? BASES[name].article : null);
/** A purpose (a fideslang data use) in plain words. */
export const purposeWords = (name: string): string => PURPOSES[name] ?? name;
/** How a field is minimised before storage, in plain words. */
export const transformWords = (name: string): string => TRANSFORMS[name] ?? name;
/** A kind of stored record (a receipt names the table) in plain words. */
export const recordWords = (table: string): string => RECORDS[table] ?? table;
