import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The embeddable widget: one self-contained IIFE, built into frontend/dist-widget (its own folder,
// so app builds never wipe it) and served by Django at /widget.js. No framework: it stays small.
export default defineConfig({
  publicDir: false, // the app's public/ files are not the widget's
  build: {
    outDir: fileURLToPath(new URL("../dist-widget", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    target: "es2020",
    lib: {
      entry: fileURLToPath(new URL("./src/main.ts", import.meta.url)),
      name: "TrellisWidget",
      formats: ["iife"],
      fileName: () => "widget.js",
    },
  },
});
