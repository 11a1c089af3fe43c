/** The dictionary's names in plain words, for owners. A name not listed here is shown as it is. */

const PURPOSES: Record<string, string> = {
  "essential.service.operations.support.warranty": "Your warranty",
  "essential.service.operations.support": "Support for your device",
  "essential.service.upgrades": "Software updates",
  "essential.service.security": "Security of your device",
  "essential.legal_obligation": "What the law requires us to keep",
  "analytics.reporting.system.performance": "How well the software performs (User Experience Program)",
  "functional.service.improve": "Improving the software",
};

const BASES: Record<string, string> = {
  contract: "needed to give you what you bought (contract)",
  consent: "you agreed to it (consent), and can withdraw",
  legal_obligation: "the law requires it (legal obligation)",
  legitimate_interests: "the maker's legitimate interest",
  vital_interests: "to protect someone's life (vital interests)",
  public_task: "a task in the public interest",
};

const TRANSFORMS: Record<string, string> = {
  keep: "as sent",
  pseudonymise: "as a pseudonym, not the value itself",
  coarsen: "rounded (a day, a bucket), not the exact value",
  drop: "never stored",
};

export const purposeWords = (name: string): string => PURPOSES[name] ?? name;
export const basisWords = (name: string): string => BASES[name] ?? name;
export const transformWords = (name: string): string => TRANSFORMS[name] ?? name;

const RECORDS: Record<string, string> = {
  activations: "Warranty activation",
  diagnostics_events: "Diagnostics (User Experience Program)",
  consents: "Your decisions",
  consent_history: "Earlier decisions and their receipts",
  notice_deliveries: "Notices sent to your device",
  device_builds: "The software your device runs",
};

/** A kind of stored record (a receipt names the table) in plain words. */
export const recordWords = (table: string): string => RECORDS[table] ?? table;
