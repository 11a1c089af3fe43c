/** What every command of the CLI uses: argument parsers, progress, failure reports, calls to the control plane. This file is the folder's only public surface. */
export { marketList, wholeNumber } from "./args.ts";
export { callCollector, callControlPlane } from "./control-plane-client.ts";
export { printFailure } from "./failure.ts";
export { progressReporter } from "./progress.ts";
