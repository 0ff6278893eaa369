/// <reference types="vitest/config" />
// The UI is built into the Python package (src/chunkyard/web/dist), which serves it at `/`.
// The build is committed and CI rebuilds it and compares: keep the output deterministic
// (content-hashed names, no source maps, no timestamps).
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { gzipSync } from "fflate";
import { defineConfig, type Plugin } from "vite";

const apiTarget = process.env.CHUNKYARD_API ?? "http://127.0.0.1:8000";

/** Text files worth a gzip copy: at least this big, and the copy at most 90% of the file. */
const COMPRESSIBLE = /\.(?:js|mjs|css|html|svg|json|txt)$/;
const MIN_BYTES = 1024;

/**
 * Writes `name.gz` next to every text file of the build, which the server sends to clients that
 * accept gzip (src/chunkyard/web/static.py). fflate is pure JavaScript, so the bytes depend on
 * the input and the locked fflate version only (not on the zlib a Node build links, whose
 * output varies between builds and CPUs): the committed copies are reproducible. Level 9, no
 * file name and a zero time in the header.
 */
export function precompress(): Plugin {
  let outDir = "";
  return {
    name: "chunkyard-precompress",
    apply: "build",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    // After everything is written, the public directory's files included.
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir)
          .sort()
          .flatMap((name) => {
            const path = join(dir, name);
            return statSync(path).isDirectory() ? walk(path) : [path];
          });
      for (const path of walk(outDir)) {
        if (!COMPRESSIBLE.test(path)) continue;
        const data = readFileSync(path);
        if (data.length < MIN_BYTES) continue;
        const packed = gzipSync(data, { level: 9, mtime: 0 });
        if (packed.length <= data.length * 0.9) writeFileSync(`${path}.gz`, packed);
      }
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [react(), precompress()],
  build: {
    outDir: "../src/chunkyard/web/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // No inline scripts anywhere (the CSP is `script-src 'self'`); modern browsers only.
    modulePreload: { polyfill: false },
    target: "es2022",
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` talks to a running `chunkyard serve` (same origin through the proxy).
    proxy: {
      "/api": { target: apiTarget, ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
