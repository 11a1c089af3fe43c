/**
 * Incidents as the control plane's API shows them: what happened, to which
 * devices (counts by batch, build, market and region), where data went, and
 * the notices sent to the devices' owners with how far they got.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/** Where data went: a collector of a region, an endpoint a build talks to, or what an operator names. */
export const DestinationView = T.Object(
  {
    kind: StringEnum(["collector", "endpoint", "other"]),
    name: T.String({ minLength: 1, maxLength: 2048 }),
    note: T.String({ maxLength: 2000 }),
  },
  { additionalProperties: false },
);
/** Where data went. */
export type Destination = Static<typeof DestinationView>;

/** Which devices an incident is about: each list narrows the choice (empty: any), and when they were provisioned. */
export const IncidentScopeView = T.Object({
  batches: T.Array(T.String()),
  builds: T.Array(T.String()),
  markets: T.Array(T.String()),
  from: T.Union([T.String(), T.Null()]),
  to: T.Union([T.String(), T.Null()]),
});
/** Which devices an incident is about. */
export type IncidentScope = Static<typeof IncidentScopeView>;

/** The devices an incident affects, counted by batch, build, market and region. */
export const AffectedDevicesView = T.Object({
  total: T.Integer(),
  batches: T.Array(
    T.Object({
      batch: T.String(),
      build: T.String(),
      market: T.String(),
      region: T.String(),
      devices: T.Integer(),
    }),
  ),
});
/** The devices an incident affects. */
export type AffectedDevices = Static<typeof AffectedDevicesView>;

/** Per region: the devices it took a notice for and when, or the error that kept it from being reached. */
export const NoticeRegionsView = T.Record(
  T.String(),
  T.Union([
    T.Object({ devices: T.Integer(), at: T.String() }),
    T.Object({ error: T.String(), at: T.String() }),
  ]),
  {
    description:
      "per region: the devices it took the notice for and when, or the error that kept it from being reached",
  },
);
/** Per region: what became of a notice's hand-over. */
export type NoticeRegions = Static<typeof NoticeRegionsView>;

/** A notice, what each region took it for, and (when asked) how many devices got it. */
export const IncidentNoticeView = T.Object({
  id: T.String(),
  title: T.String(),
  body: T.String(),
  sentAt: T.String({ format: "date-time" }),
  regions: NoticeRegionsView,
  delivery: T.Optional(
    T.Object({
      devices: T.Integer(),
      delivered: T.Integer(),
      missing: T.Array(T.Object({ region: T.String(), reason: T.String() })),
    }),
  ),
});
/** A notice of an incident, as operators see it. */
export type IncidentNotice = Static<typeof IncidentNoticeView>;

/** An incident as the API shows it. */
export const IncidentView = T.Object({
  id: T.String(),
  title: T.String(),
  description: T.String(),
  source: StringEnum(["misrouting", "operator"], {
    description: "misrouting (opened from collectors' alerts) or operator",
  }),
  status: StringEnum(["open", "closed"], { description: "open or closed" }),
  scope: IncidentScopeView,
  dataCategories: T.Array(T.String()),
  destinations: T.Array(DestinationView),
  advisory: T.Union([T.String(), T.Null()]),
  openedAt: T.String({ format: "date-time" }),
  closedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
  devices: AffectedDevicesView,
  notices: T.Array(IncidentNoticeView),
});
/** An incident as the API shows it. */
export type Incident = Static<typeof IncidentView>;

/** An incident in the list of every incident: what it is, whether it is open, how many devices it affects. */
export const IncidentSummaryView = T.Object({
  id: T.String(),
  title: T.String(),
  source: IncidentView.properties.source,
  status: IncidentView.properties.status,
  openedAt: T.String({ format: "date-time" }),
  devices: T.Integer(),
});
/** An incident in the list of every incident. */
export type IncidentSummary = Static<typeof IncidentSummaryView>;
