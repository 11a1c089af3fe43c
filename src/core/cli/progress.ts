/** Progress of long CLI work, on stderr so stdout stays for results. */
import { Presets, SingleBar } from "cli-progress";

/** Progress on stderr: a bar on a terminal, else a line at every tenth, so logs stay readable. */
export function progressReporter(
  stream: NodeJS.WriteStream,
  label = "devices",
): {
  update: (done: number, total: number) => void;
  stop: () => void;
} {
  if (stream.isTTY) {
    let bar: SingleBar | undefined;
    return {
      update: (done, total) => {
        if (total === 0) return;
        if (bar === undefined) {
          bar = new SingleBar(
            { stream, format: `${label} {bar} {percentage}% | {value}/{total}` },
            Presets.shades_classic,
          );
          bar.start(total, done);
        } else bar.update(done);
      },
      stop: () => {
        bar?.stop();
        bar = undefined;
      },
    };
  }
  let lastTenth = -1;
  return {
    update: (done, total) => {
      if (total === 0) return;
      const tenth = Math.floor((done / total) * 10);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      stream.write(`${label} ${tenth * 10}% (${done}/${total})\n`);
    },
    stop: () => {},
  };
}
