#!/usr/bin/env bash
# Vendor Niivue's browser bundle into the dashboard's static files, so the case viewer works
# offline and never loads from a CDN.
#
#   scripts/refresh_niivue.sh            # the pinned version (below)
#   scripts/refresh_niivue.sh 0.70.0     # another version: review, test, then commit
#
# Installs @niivue/niivue with npm into a temporary folder (no install scripts run), copies
# its UMD bundle (one self-contained file that defines the global `niivue`) and writes
# VERSION (version and SHA-256 of the bundle, checked by the unit tests) and
# THIRD_PARTY_NOTICES.txt (the licences of the packages bundled inside it). Niivue's own
# BSD-2-Clause LICENSE is committed beside them: the npm package does not ship the file.
set -euo pipefail

VERSION="${1:-0.69.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/src/medselect/dashboard/static/vendor/niivue"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
echo '{"private": true}' > package.json
npm install --silent --no-audit --no-fund --ignore-scripts --omit=optional \
    "@niivue/niivue@$VERSION"
PACKAGE="$WORK/node_modules/@niivue/niivue"
LICENSE_ID="$(node -p "require('$PACKAGE/package.json').license")"
if [ "$LICENSE_ID" != "BSD-2-Clause" ]; then
    echo "Niivue $VERSION is licensed $LICENSE_ID, not BSD-2-Clause: update LICENSE first" >&2
    exit 1
fi

mkdir -p "$TARGET"
cp "$PACKAGE/dist/niivue.umd.js" "$TARGET/niivue.umd.js"
SHA="$(sha256sum "$TARGET/niivue.umd.js" | cut -d' ' -f1)"
printf '%s\n%s  niivue.umd.js\n' "$VERSION" "$SHA" > "$TARGET/VERSION"

# The packages esbuild bundled (its metafile lists every input), each with its licence text.
node - "$PACKAGE/dist/metafile-esm.json" "$WORK/node_modules" > "$TARGET/THIRD_PARTY_NOTICES.txt" <<'EOF'
const fs = require("fs"), path = require("path");
const [metafile, modules] = process.argv.slice(2);
const names = new Set();
for (const input of Object.keys(JSON.parse(fs.readFileSync(metafile)).inputs)) {
  const match = input.match(/node_modules\/((@[^/]+\/)?[^/]+)/);
  if (match) names.add(match[1]);
}
console.log("Packages bundled in niivue.umd.js and their licences (versions as npm resolves "
            + "them now; the bundle may hold an earlier release of each).\n");
for (const name of [...names].sort()) {
  const folder = path.join(modules, name);
  const meta = JSON.parse(fs.readFileSync(path.join(folder, "package.json")));
  const file = fs.readdirSync(folder).find((f) => /^(licen[cs]e|copying)/i.test(f));
  if (!file) throw new Error(`${name} ships no licence file`);
  console.log(`==== ${name} ${meta.version} (${meta.license}) ====\n`);
  console.log(fs.readFileSync(path.join(folder, file), "utf8").trim() + "\n");
}
EOF
echo "Niivue $VERSION -> $TARGET ($(du -h "$TARGET/niivue.umd.js" | cut -f1))"
