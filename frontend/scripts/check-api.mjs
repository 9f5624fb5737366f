#!/usr/bin/env node
// Fails when src/api/schema.d.ts is not what `npm run gen:api` makes from openapi.yaml,
// i.e. when someone changed the backend schema (or the generated file) without regenerating.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "src/api/schema.d.ts");
const dir = mkdtempSync(join(tmpdir(), "trellis-api-"));
const fresh = join(dir, "schema.d.ts");

try {
  // Same command as `npm run gen:api`, only the output goes to a temporary file.
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const [command, ...args] = pkg.scripts["gen:api"].split(/\s+/);
  const out = args.findIndex((arg) => arg === "-o" || arg === "--output");
  if (command !== "openapi-typescript" || out === -1) {
    console.error("check:api: expected gen:api to be `openapi-typescript ... -o <file>`.");
    process.exit(1);
  }
  args[out + 1] = fresh;
  const bin = join(root, "node_modules/.bin", command);
  const run = spawnSync(bin, args, { cwd: root, encoding: "utf8" });
  if (run.status !== 0) {
    process.stderr.write(run.stdout + run.stderr);
    console.error("check:api: openapi-typescript failed.");
    process.exit(run.status ?? 1);
  }
  let current;
  try {
    current = readFileSync(committed, "utf8");
  } catch {
    console.error("check:api: src/api/schema.d.ts is missing. Run `npm run gen:api`.");
    process.exit(1);
  }
  if (readFileSync(fresh, "utf8") !== current) {
    console.error("check:api: src/api/schema.d.ts is out of date with openapi.yaml. Run `npm run gen:api` and commit it.");
    process.exit(1);
  }
  console.log("check:api: src/api/schema.d.ts matches openapi.yaml.");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
