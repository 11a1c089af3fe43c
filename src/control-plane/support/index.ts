/** Support's view of one device for a stated reason, asked of its home region. This file is the folder's only public surface. */
export { registerSupportRoutes } from "./support.routes.ts";
