/** Incident notices a region keeps for its devices, and their delivery at the devices' check-ins. This file is the folder's only public surface. */
export { findDeviceNotices, REDELIVER_FOR_MS, takeNotices } from "./device-notices.repository.ts";
export { registerDeviceNoticeRoutes } from "./device-notices.routes.ts";
export { noticeDeliveriesTable } from "./notice-deliveries.table.ts";
