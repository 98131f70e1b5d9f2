#!/usr/bin/env bash
# The README's first command: start berthd on private directories, import a busybox image
# built here (no registry, no network), and run a container from it with Debian's ctr —
# containerd's own client, unmodified. Everything is removed afterwards.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
demo=$(mktemp -d /tmp/berth-demo.XXXXXX)
sock="$demo/state/berthd.sock"
berthd_pid=""

cleanup() {
  if [ -n "$berthd_pid" ]; then
    ctr --address "$sock" images rm "$ref" >/dev/null 2>&1 || true
    kill "$berthd_pid" 2>/dev/null && wait "$berthd_pid" 2>/dev/null || true
  fi
  # ctr puts containers at cgroup /<namespace>/<id>: remove the parent if it is ours and empty.
  for dir in /sys/fs/cgroup/*/default; do [ -d "$dir" ] && ! grep -qx "$dir" "$demo/cgroups-before" && rmdir "$dir" 2>/dev/null; done || true
  rm -rf "$demo"
}
trap cleanup EXIT
ls -d /sys/fs/cgroup/*/default 2>/dev/null > "$demo/cgroups-before" || true

make -s -C "$repo" image > "$demo/image.txt"
read -r image ref < <(tail -n 1 "$demo/image.txt")
echo "\$ berthd --root $demo/root --state $demo/state --address $sock &"
"$repo/bin/berthd" --root "$demo/root" --state "$demo/state" --address "$sock" --log-level warn 2>"$demo/berthd.log" &
berthd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$demo/berthd.log"; exit 1; }

echo "\$ ctr images import $image"
ctr --address "$sock" images import "$image"
echo "\$ ctr run --rm $ref demo sh -c '…'"
ctr --address "$sock" run --rm "$ref" demo \
  sh -c 'echo "hello from $(hostname), pid $$ in its own namespaces, run by berthd"; id; ps'
