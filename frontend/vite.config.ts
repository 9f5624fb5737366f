import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const backend = "http://127.0.0.1:8000";

// Django serves dist/ under /static/ (whitenoise) and answers every non-API path with
// dist/index.html, so client-side routes work on deep links.
export default defineConfig(({ command }) => ({
  // The dev server stays at "/" so deep links work there too.
  base: command === "build" ? "/static/" : "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": backend,
      "/healthz": backend,
      "/metrics": backend,
      "/ws": { target: backend, ws: true },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}", "widget/src/**/*.test.ts"],
    css: false,
    restoreMocks: true,
  },
}));
