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
bridge=""

cleanup() {
  if [ -n "$berthd_pid" ]; then
    "$repo/bin/berth" -H "unix://$sock" rm -f demo-web >/dev/null 2>&1 || true
    ctr --address "$sock" images rm "$ref" >/dev/null 2>&1 || true
    kill "$berthd_pid" 2>/dev/null && wait "$berthd_pid" 2>/dev/null || true
  fi
  # ctr puts containers at cgroup /<namespace>/<id>: remove the parent if it is ours and empty.
  for dir in /sys/fs/cgroup/*/default; do [ -d "$dir" ] && ! grep -qx "$dir" "$demo/cgroups-before" && rmdir "$dir" 2>/dev/null; done || true
  # The default network's bridge (no CNI plugin removes a bridge), the netns dir if berthd
  # could not unmount it, and the CNI plugins' shared iptables chains if this demo brought them.
  [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null || true
  mountpoint -q "$demo/state/netns" 2>/dev/null && umount "$demo/state/netns" || true
  for table in filter nat; do
    [ -f "$demo/chains-before" ] || break
    new=$(iptables-save -t "$table" | sed -n 's/^:\(CNI-[^ ]*\).*/\1/p' | while read -r chain; do grep -qx "$table $chain" "$demo/chains-before" || echo "$chain"; done)
    # jumps to them from the built-in chains, then flush all, then delete all (they jump to each other)
    for chain in $new; do
      iptables -w -t "$table" -S | sed -n "s/^-A \([A-Z]*\) \(.*-j $chain\)\$/\1 \2/p" | while read -r from rule; do
        eval "iptables -w -t $table -D $from $rule" 2>/dev/null || true
      done
    done
    for chain in $new; do iptables -w -t "$table" -F "$chain" 2>/dev/null || true; done
    for chain in $new; do iptables -w -t "$table" -X "$chain" 2>/dev/null || true; done
  done
  rm -rf "$demo"
}
trap cleanup EXIT
ls -d /sys/fs/cgroup/*/default 2>/dev/null > "$demo/cgroups-before" || true
for table in filter nat; do iptables-save -t "$table" | sed -n "s/^:\(CNI-[^ ]*\).*/$table \1/p"; done > "$demo/chains-before" || true
# The demo's containers get the default network on a bridge of their own (not berth0).
bridge="berthdemo$$"
bridge=${bridge:0:15}

make -s -C "$repo" image > "$demo/image.txt"
read -r image ref < <(tail -n 1 "$demo/image.txt")
# Container logs under the demo dir too (the default is /var/log/berth); the default network's
# bridge named for this demo.
printf '{"plugins": {"io.containerd.grpc.v1.tasks": {"log_root": "%s"}, "io.containerd.internal.v1.networks": {"default_bridge": "%s"}}}\n' "$demo/logs" "$bridge" > "$demo/berthd.json"
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
