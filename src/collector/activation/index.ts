/** Activation: a device's first message home, which starts its warranty (POST /v1/activations). This file is the folder's only public surface. */
export { findActivations, type StoredActivation } from "./activation.repository.ts";
export { registerActivationRoutes } from "./activation.routes.ts";
export { activationsTable, activationWrites } from "./activation.table.ts";
