/**
 * `npm run build`: builds the web apps with Vite into `web/dist/<app>/`, which
 * the services serve (src/core/web-apps/). `npm start` and `npm test` run it first.
 */
import { fileURLToPath } from "node:url";
import { build } from "vite";

const web = fileURLToPath(new URL("../web/", import.meta.url));
for (const app of ["portal", "console"]) {
  const started = performance.now();
  await build({
    configFile: `${web}vite.config.ts`,
    root: `${web}${app}`,
    build: { outDir: `${web}dist/${app}` },
  });
  console.log(`built web/dist/${app}/ in ${Math.round(performance.now() - started)} ms`);
}
