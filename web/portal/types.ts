/**
 * What the portal reads: its configuration and the regions it asks.
 */

export interface PortalConfig {
  controlPlane: string;
}

export interface Region {
  id: string;
  storedIn: string;
  url: string;
}

export interface FieldView {
  name: string;
  value: unknown;
  description: string;
  dataCategory: string;
  purpose: string;
  legalBasis: string;
  retention: string;
  transform: string;
}

export interface RecordView {
  collection: string;
  schemaVersion: number;
  description: string;
  purpose: string;
  legalBasis: string;
  storedAt: string;
  expiresAt: string;
  fields: FieldView[];
}

export interface RegionExport {
  region: string;
  storedIn: string;
  device: string;
  generatedAt: string;
  records: RecordView[];
  consents: { consents: { purpose: string; decision: string }[] };
  notices: { title?: string }[];
}
