#!/usr/bin/env bash
# Vendor plotly.js's "cartesian" partial bundle into the dashboard's static files: the trace
# types the dashboard draws (scatter, box, heatmap) in 1.5 MB instead of the full 4.8 MB
# plotly.min.js, which every chart page had to parse; charts work offline, never from a CDN.
#
#   scripts/refresh_plotly.sh          # the pinned version (below)
#   scripts/refresh_plotly.sh 4.2.0    # another version: review, test, then commit
#
# The figures are plain dicts in plotly.js's schema (medselect.dashboard.charts): check them
# in a browser (tests/browser) before moving to another major version.
# Downloads the npm package with `npm pack` (nothing is installed, no script runs), copies its
# bundle and LICENSE, and writes VERSION (version and SHA-256 of the bundle, checked by the
# unit tests).
set -euo pipefail

VERSION="${1:-4.1.1}"
PACKAGE_NAME="plotly.js-cartesian-dist-min"
BUNDLE="plotly-cartesian.min.js"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/src/medselect/dashboard/static/vendor/plotly"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "$PACKAGE_NAME@$VERSION" > /dev/null
tar xzf "$PACKAGE_NAME-$VERSION.tgz"
LICENSE_ID="$(node -p "require('$WORK/package/package.json').license")"
if [ "$LICENSE_ID" != "MIT" ]; then
    echo "$PACKAGE_NAME $VERSION is licensed $LICENSE_ID, not MIT: review it first" >&2
    exit 1
fi

mkdir -p "$TARGET"
cp "package/$BUNDLE" "$TARGET/$BUNDLE"
cp package/LICENSE "$TARGET/LICENSE"
SHA="$(sha256sum "$TARGET/$BUNDLE" | cut -d' ' -f1)"
printf '%s\n%s  %s\n' "$VERSION" "$SHA" "$BUNDLE" > "$TARGET/VERSION"
echo "plotly.js cartesian $VERSION -> $TARGET ($(du -h "$TARGET/$BUNDLE" | cut -f1))"
