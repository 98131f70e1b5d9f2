# berth — build, test and benchmark everything from one place.
#   make deps    install what build and tests need (Debian apt + npm; run as root)
#   make build   bin/berth-runtime, bin/berthd, bin/berth, bin/berth-init, bin/berth-shim, bin/berth-probe
#   make test    deps + build + unit tests + e2e tests (real containers; root)
#   make demo    deps + build + start berthd, import a local busybox image, run a container
#   make image   build/images/busybox.tar, made offline from busybox-static
#   make fixtures the Debian minbase test image (debootstrap; e2e and bench use it)
#   make bench   benchmarks vs runc and crun (not part of test)

PREFIX ?= /usr/local
APT_PACKAGES := gcc make libc6-dev libseccomp-dev busybox-static iproute2 procps util-linux python3 runc crun hyperfine time attr zstd containerd podman conmon skopeo tini docker-registry apache2-utils debootstrap containernetworking-plugins iptables
NODE_BIN := node_modules/.bin

.PHONY: all deps apt-deps npm-deps build native proto ts image fixtures test unit e2e demo bench install clean

all: build

deps: apt-deps npm-deps

# Installs only what is missing, so a machine that has everything pays nothing.
apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

npm-deps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json runtime/package.json manager/package.json e2e/package.json
	npm ci --no-audit --no-fund
	@touch $@

build: native ts

native:
	$(MAKE) -C native-helper
	$(MAKE) -C shim

# containerd's wire contracts → manager/src/api/generated (gitignored, rewritten only on change)
proto: npm-deps
	node manager/scripts/gen-proto.js

# bin/berthd is one bundle except lmdb (a native addon, with its own optional natives), which
# is loaded at run time from the repository's node_modules: the banner puts that directory
# (absolute, as built) and ../node_modules next to the binary on the bundle's search path.
export BERTHD_BANNER := module.paths.unshift(require("path").resolve(__dirname, "..", "node_modules"), "$(abspath node_modules)");

ts: npm-deps proto
	$(NODE_BIN)/tsc -b runtime manager
	$(NODE_BIN)/esbuild runtime/src/cli/bin.ts --bundle --platform=node --target=node20 --minify-syntax \
		--outfile=bin/berth-runtime --log-level=warning
	@chmod 755 bin/berth-runtime
	$(NODE_BIN)/esbuild manager/src/cmd/berthd.ts --bundle --platform=node --target=node20 --minify-syntax \
		--external:lmdb --banner:js="$$BERTHD_BANNER" --define:BERTH_REVISION="\"$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"" \
		--outfile=bin/berthd --log-level=warning
	@chmod 755 bin/berthd
	@# bin/berth.js: one bundle with nothing external (the client reaches berthd only over gRPC, never lmdb);
	@# bin/berth: the launcher that runs it from V8's code cache (manager/scripts/berth-launcher.js)
	@# (a temp name per build: two builds at once must not link each other's half-written bundle)
	tmp=bin/.berth.bundle.$$$$.tmp && $(NODE_BIN)/esbuild manager/src/cmd/berth.ts --bundle --platform=node --target=node20 --minify-syntax \
		--define:BERTH_REVISION="\"$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"" \
		--outfile=$$tmp --log-level=warning && node manager/scripts/link-berth.js $$tmp bin

test: deps build unit e2e

unit: npm-deps proto
	$(NODE_BIN)/tsc -p runtime --noEmit
	$(NODE_BIN)/tsc -p e2e --noEmit
	cd runtime && ../$(NODE_BIN)/jest --ci
	cd manager && ../$(NODE_BIN)/jest --ci --runInBand

e2e: build fixtures
	cd e2e && ../$(NODE_BIN)/jest --ci --runInBand

# The registry tests' and the pull benchmark's 3-layer Debian minbase image (OCI layout), made
# once per machine with debootstrap outside the repository: /var/cache/berth-test/debian-minbase
# ($$BERTH_DEBIAN_IMAGE to put it elsewhere). Kept when it verifies.
fixtures: apt-deps
	node e2e/fixtures/debian-image.js

# The busybox-static image the demo runs: build/images/busybox.tar (prints its path and name).
image: build
	@$(NODE_BIN)/esbuild e2e/make-image.ts --bundle --platform=node --log-level=warning --outfile=build/make-image.js
	@BERTH_REPO=$(CURDIR) node build/make-image.js

demo: deps build
	bash e2e/demo.sh

bench: deps build fixtures
	node bench/runtime-run.js
	node bench/runtime-exec.js
	node bench/runtime-many.js
	node bench/rss.js
	node bench/berthd.js
	node bench/berth.js
	node bench/apply.js
	node bench/pull.js
	node bench/network.js

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bin/berth-runtime bin/berth-init bin/berth-shim bin/berthd bin/berth $(DESTDIR)$(PREFIX)/bin/
	@# -p: the bundle keeps its mtime, which bin/berth's code caches are checked against
	install -p -m 644 bin/berth.js $(DESTDIR)$(PREFIX)/bin/

clean:
	$(MAKE) -C native-helper clean
	$(MAKE) -C shim clean
	rm -rf bin runtime/dist runtime/*.tsbuildinfo
