/** A task the control plane runs on a timer: one run at a time, a failure logged and the next run tried. */

/** What `every` logs through. */
export interface TaskLog {
  warn(obj: object, msg: string): void;
}

/** Runs `task` every `seconds` (0: never) until stopped; a run still going when the next is due skips it. */
export function every(
  seconds: number,
  name: string,
  task: () => Promise<void>,
  log: TaskLog,
): { stop(): void } {
  if (seconds === 0) return { stop: () => {} };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((error: unknown) => log.warn({ err: error }, `${name} failed`))
      .finally(() => {
        running = false;
      });
  }, seconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
