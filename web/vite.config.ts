/**
 * How the web apps are built: each app (`portal/`, later `console/`) is its
 * own Vite root, built into `web/dist/<app>/` with relative asset paths, so a
 * service can serve it under `/<app>/` (see src/core/web-apps/). Preact, TypeScript.
 */
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  plugins: [preact()],
  build: { emptyOutDir: true, sourcemap: true, target: "es2022" },
  logLevel: "warn",
});
