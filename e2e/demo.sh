#!/usr/bin/env bash
# The README's first command: start berthd on private directories, load a busybox image built
# here (no registry, no network) with berth, the Docker-style client, and run containers from it
# with berth and with Debian's ctr — containerd's own client, unmodified. Everything is removed
# afterwards.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
demo=$(mktemp -d /tmp/berth-demo.XXXXXX)
sock="$demo/state/berthd.sock"
berthd_pid=""

cleanup() {
  if [ -n "$berthd_pid" ]; then
    "$repo/bin/berth" -H "unix://$sock" rm -f demo-web >/dev/null 2>&1 || true
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
# Container logs under the demo dir too (the default is /var/log/berth).
printf '{"plugins": {"io.containerd.grpc.v1.tasks": {"log_root": "%s"}}}\n' "$demo/logs" > "$demo/berthd.json"
echo "\$ berthd --root $demo/root --state $demo/state --address $sock &"
"$repo/bin/berthd" --root "$demo/root" --state "$demo/state" --address "$sock" --config "$demo/berthd.json" --log-level warn 2>"$demo/berthd.log" &
berthd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$demo/berthd.log"; exit 1; }

berth() { "$repo/bin/berth" -H "unix://$sock" "$@"; }
echo "\$ berth load -i $image"
berth load -i "$image"
echo "\$ berth run --rm $ref sh -c '…'"
berth run --rm "$ref" sh -c 'echo "hello from $(hostname), pid $$ in its own namespaces, run by berthd"; id'
echo "\$ berth run -d --name demo-web $ref sh -c 'while :; do date; sleep 1; done'"
berth run -d --name demo-web "$ref" sh -c 'while :; do date; sleep 1; done'
sleep 1.5
echo "\$ berth ps"; berth ps
echo "\$ berth logs demo-web"; berth logs demo-web
echo "\$ berth rm -f demo-web"; berth rm -f demo-web
echo "\$ ctr run --rm $ref demo sh -c '…'   # containerd's own client, same daemon"
ctr --address "$sock" run --rm "$ref" demo sh -c 'echo "hello again, from ctr this time"; ps'
