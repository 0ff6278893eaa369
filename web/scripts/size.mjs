// The JavaScript the first screen loads (the entry script and everything index.html preloads),
// as the server sends it: the build's gzip copies (`name.gz`, written by the Vite build and
// served to clients that accept gzip), against the budget: 250 KB. Heavier screens are lazy
// chunks and do not count. Fails too when a text file of the build has no gzip copy or a copy
// that does not unpack to the file (a stale build).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "chunkyard", "web", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const refs = [
  ...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g),
  ...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g),
].map((m) => m[1]);
const css = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => m[1]);

const problems = [];
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
for (const path of walk(dist)) {
  if (path.endsWith(".gz")) {
    const original = path.slice(0, -3);
    if (!existsSync(original)) problems.push(`${relative(dist, path)} has no original`);
    else if (!gunzipSync(readFileSync(path)).equals(readFileSync(original))) {
      problems.push(`${relative(dist, path)} does not unpack to ${relative(dist, original)}`);
    }
  }
}

/** Bytes sent for a first-screen file: its gzip copy (which every first-screen file has). */
const sent = (path) => {
  const file = join(dist, path.replace(/^\//, ""));
  if (!existsSync(`${file}.gz`)) {
    problems.push(`${path} has no gzip copy (the build's precompress step did not run?)`);
    return readFileSync(file).length;
  }
  return readFileSync(`${file}.gz`).length;
};
const jsFiles = [...new Set(refs)];
const js = jsFiles.reduce((sum, path) => sum + sent(path), 0);
const raw = jsFiles.reduce((sum, path) => sum + readFileSync(join(dist, path.replace(/^\//, ""))).length, 0);
const styles = css.reduce((sum, path) => sum + sent(path), 0);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(
  `first screen: ${kb(js)} of JavaScript sent gzipped (${kb(raw)} unpacked, ${jsFiles.length} file(s); ` +
    `budget ${kb(BUDGET)}), ${kb(styles)} of CSS`,
);
if (problems.length) {
  console.error(`the build's gzip copies are wrong:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
if (js > BUDGET) {
  console.error(`the first screen's JavaScript is over the ${kb(BUDGET)} budget: lazy-load more`);
  process.exit(1);
}
