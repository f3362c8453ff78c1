import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The checkout's root: the nearest folder above this file whose package.json declares workspaces. */
export function projectRoot(from: string = import.meta.dir): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).workspaces) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}
