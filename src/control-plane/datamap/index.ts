/** The data map, the record of processing and the fideslang export, built from the approved dictionary. This file is the folder's only public surface. */
export { register } from "./datamap.command.ts";
export { registerDataMapRoutes } from "./datamap.routes.ts";
