#!/usr/bin/env bash
# The README's first command: make a bundle from Debian's busybox-static and run a container
# from it with berth-runtime — no image, no registry, no network.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
demo=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT

mkdir -p "$demo/rootfs/bin"
cp /bin/busybox "$demo/rootfs/bin/busybox"
for applet in sh echo cat ls hostname id ps uname; do ln -s busybox "$demo/rootfs/bin/$applet"; done
"$repo/bin/berth-runtime" spec --bundle "$demo"
# Not a terminal session: run one command and print what the container sees.
node -e '
  const fs = require("fs"), path = process.argv[1];
  const spec = JSON.parse(fs.readFileSync(path, "utf8"));
  spec.process.terminal = false;
  spec.process.args = ["sh", "-c", "echo hello from $(hostname), pid $$ in its own namespaces; id; ps"];
  fs.writeFileSync(path, JSON.stringify(spec, null, 2));
' "$demo/config.json"
echo "\$ berth-runtime run --bundle $demo demo-$$"
"$repo/bin/berth-runtime" --root "$demo/state" run --bundle "$demo" "demo-$$"
