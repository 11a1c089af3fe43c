/**
 * The shared vocabulary every field is described in: data categories and data
 * uses (purposes) from the fideslang default taxonomy, so a data map can be
 * exchanged with Fides, plus the few phone-specific names fideslang lacks, and
 * the lawful bases of GDPR Art. 6(1).
 *
 * Only the names listed here are accepted; anything else is a lint error. An
 * extension is always a child of a real fideslang name, so a tool that does not
 * know the extension can fall back to its parent.
 */

/** One accepted taxonomy name. */
export interface TaxonomyEntry {
  description: string;
  /** True for phonehome's own names, absent for names taken from fideslang. */
  extension?: true;
}

/** Data categories: what a field is (fideslang `data_category`, plus phone extensions). */
export const DATA_CATEGORIES: Readonly<Record<string, TaxonomyEntry>> = Object.freeze({
  system: { description: "Data unique to, and under control of, the system." },
  "system.authentication": { description: "Data used to manage access to the system." },
  "system.operations": { description: "Data used for system operations." },
  user: { description: "Data related to the user of the system." },
  "user.account": { description: "Account creation or registration information." },
  "user.contact": { description: "Contact data collected about a user." },
  "user.contact.email": { description: "A user's contact e-mail address." },
  "user.contact.phone_number": { description: "A user's phone number." },
  "user.contact.address": { description: "Contact address data collected about a user." },
  "user.contact.address.country": { description: "A user's country-level address data." },
  "user.device": { description: "Data related to a user's device, its configuration and settings." },
  "user.device.device_id": { description: "A device's unique identification number." },
  "user.device.device_id.imei": {
    description:
      "International Mobile Equipment Identity of a phone's radio (15 digits); tracks the handset across SIMs.",
    extension: true,
  },
  "user.device.serial_number": {
    description: "The maker's serial number of a device, as printed on the box and in the settings.",
    extension: true,
  },
  "user.device.sim": { description: "Data of the SIM card in a device.", extension: true },
  "user.device.sim.iccid": {
    description: "Integrated Circuit Card Identifier: the SIM card's serial number.",
    extension: true,
  },
  "user.device.sim.imsi": {
    description: "International Mobile Subscriber Identity: names the subscriber to the mobile network.",
    extension: true,
  },
  "user.device.ip_address": { description: "Unique identifier related to a device's connection." },
  "user.device.sensor": { description: "Measurement data from device sensors and monitoring systems." },
  "user.device.telemetry": {
    description: "User-identifiable measurement data from device sensors and monitoring.",
  },
  "user.location": { description: "Records of the location of a user." },
  "user.location.coarse": { description: "Coarse location derived from sensors (more than 500 m)." },
  "user.location.precise": { description: "Precise location derived from sensors (less than 500 m)." },
  "user.location.precise.cell_id": {
    description:
      "The mobile network cell a device is attached to (MCC, MNC, LAC/TAC, cell id); locates it to a cell.",
    extension: true,
  },
  "user.privacy_preferences": { description: "Privacy preferences or settings set by the subject." },
  "user.settings": { description: "User preferences and settings data." },
  "user.unique_id": { description: "Unique identifier for a user assigned through system use." },
});

/** Data uses: why a field is collected (fideslang `data_use`, plus phone extensions). */
export const DATA_USES: Readonly<Record<string, TaxonomyEntry>> = Object.freeze({
  essential: {
    description:
      "Operates the service or product, including legal obligations, support and basic operations.",
  },
  "essential.fraud_detection": { description: "Detects possible fraud or misuse of the product or service." },
  "essential.legal_obligation": {
    description: "Meets a legal or compliance obligation such as consent management.",
  },
  "essential.service": {
    description: "Provides the product or service, without which it would not be possible.",
  },
  "essential.service.authentication": { description: "Authenticates users to the product or service." },
  "essential.service.notifications": { description: "Sends notifications about the product or service." },
  "essential.service.operations": { description: "Ensures the operation of the product or service." },
  "essential.service.operations.support": { description: "Provides support for the product or service." },
  "essential.service.operations.support.warranty": {
    description: "Starts and honours the maker's warranty of a device: when it began, for which device.",
    extension: true,
  },
  "essential.service.operations.improve": {
    description: "Optimises and improves support for the product or service.",
  },
  "essential.service.security": { description: "Provides security for the product or service." },
  "essential.service.upgrades": { description: "Provides timely system upgrade information." },
  functional: { description: "Used for specific, necessary and legitimate purposes." },
  "functional.service": {
    description: "Functions relating to provided services, products, applications or systems.",
  },
  "functional.service.improve": {
    description: "Improves the specific product, service, application or system.",
  },
  analytics: { description: "Provides analytics such as system performance reporting." },
  "analytics.reporting": { description: "Provides analytics for general reporting." },
  "analytics.reporting.system": { description: "Provides analytics for reporting on system activity." },
  "analytics.reporting.system.performance": {
    description: "Provides analytics for reporting on system performance.",
  },
});

/** The lawful bases of GDPR Art. 6(1)(a)-(f): the one list, in @phonehome/shared's glossary. */
export { LEGAL_BASES, type LegalBasis } from "@phonehome/shared";

/** What each sensitivity level means; level 4 needs a stated necessity. */
export const SENSITIVITY: Readonly<Record<1 | 2 | 3 | 4, string>> = Object.freeze({
  1: "not personal on its own (a model, a software build)",
  2: "personal once linked to a device, low risk (country of sale, a day)",
  3: "identifies one device (its serial number)",
  4: "tracks a person across devices or networks, or locates them (IMEI, IMSI, ICCID, precise location)",
});

/** True when `name` is an accepted data category. */
export function isDataCategory(name: string): boolean {
  return Object.hasOwn(DATA_CATEGORIES, name);
}

/** True when `name` is an accepted data use. */
export function isDataUse(name: string): boolean {
  return Object.hasOwn(DATA_USES, name);
}

/** True when `narrow` is `broad` itself or one of its descendants (`a.b.c` narrows `a.b`). */
export function narrows(narrow: string, broad: string): boolean {
  return narrow === broad || narrow.startsWith(`${broad}.`);
}
