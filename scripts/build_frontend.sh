#!/usr/bin/env bash
# Builds the frontend into frontend/dist unless the build is newer than every source file.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
if [ -f dist/index.html ] && [ -f dist-widget/widget.js ] && [ -z "$(find src widget index.html package.json vite.config.ts -newer dist/index.html 2>/dev/null | head -1)" ]; then
  exit 0
fi
echo "==> building the frontend"
npm run build --silent
