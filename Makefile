# Porchlight: `make demo` runs the demo, `make test` runs the whole suite, `make fuzz` and `make races` long campaigns.
# All set themselves up.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test fuzz races lint system-deps interop-deps web-deps serve clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# `make demo PORT=9000` listens on 9000; without PORT, on the configured port (PORCHLIGHT_HTTP__PORT, else 8080).
demo: $(STAMP) web-deps
	$(PY) -m hub demo$(if $(PORT), --port $(PORT))

serve: $(STAMP) web-deps
	$(PY) -m hub serve

# Debian packages the tests drive for real: redis-server, chromium, faketime (libfaketime: one hub's clock set off
# in the clock-skew tests), nftables (with iproute2's `ip`) for the packet-loss test's network namespace, and coturn
# (`turnserver`, started by tests/test_turn.py; its own service is not used). nft and ip live in /usr/sbin or /sbin, often not on a user's PATH.
system-deps:
	@if ! command -v redis-server >/dev/null || [ ! -x /usr/lib/chromium/chromium ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server chromium; \
	fi
	@if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq faketime; \
	fi
	@if [ ! -x /usr/sbin/nft ] && ! command -v nft >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nftables; \
	fi
	@if [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ] && ! command -v ip >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq iproute2; \
	fi
	@if ! command -v npm >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; \
	fi
	@# GStreamer for the interop and RTSP tests (run by Debian's /usr/bin/python3): webrtcbin, libnice, VP8, x264,
	@# FFmpeg's decoders, the RTSP server, and the Python bindings with their introspection data.
	@if ! ls /usr/lib/*/girepository-1.0/GstWebRTC-1.0.typelib /usr/lib/*/girepository-1.0/GstRtspServer-1.0.typelib \
		/usr/lib/*/girepository-1.0/Nice-0.1.typelib /usr/lib/*/gstreamer-1.0/libgstx264.so \
		/usr/lib/*/gstreamer-1.0/libgstlibav.so /usr/lib/*/gstreamer-1.0/libgstnice.so \
		/usr/lib/*/gstreamer-1.0/libgstvpx.so /usr/lib/python3/dist-packages/gi/overrides/Gst.py >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gstreamer1.0-plugins-base \
			gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
			gstreamer1.0-nice python3-gst-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-gst-rtsp-server-1.0 gir1.2-nice-0.1; \
	fi
	@if [ ! -x /usr/bin/turnserver ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq coturn; \
	fi

# The interop suite's npm packages (Medooze's whip-whep, loaded into Chromium; tests/interop/web/package-lock.json),
# installed again only when the lock file changes. npm comes with system-deps.
INTEROP_WEB := tests/interop/web
$(INTEROP_WEB)/node_modules/.installed: $(INTEROP_WEB)/package.json $(INTEROP_WEB)/package-lock.json
	cd $(INTEROP_WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

interop-deps: $(INTEROP_WEB)/node_modules/.installed

# The pages' npm packages (Leaflet and Leaflet.markercluster for the officer's map; web/vendor/package-lock.json),
# installed again only when the lock file changes. The hub serves an allow-list of their files under /vendor/.
WEB_VENDOR := web/vendor
$(WEB_VENDOR)/node_modules/.installed: $(WEB_VENDOR)/package.json $(WEB_VENDOR)/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }
	cd $(WEB_VENDOR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-deps: $(WEB_VENDOR)/node_modules/.installed

# Two processes for most of the suite (it mostly waits on real processes, browsers and the network), then the tests
# marked `solo` alone: they judge frame rates, gaps and latency, which another test beside them would disturb.
test: $(STAMP) system-deps interop-deps web-deps
	@status=0; \
	$(VENV)/bin/pytest -n 2 --dist loadfile -m "not solo" --durations=30 || status=$$?; \
	$(VENV)/bin/pytest -m solo || status=$$?; \
	exit $$status

# The randomized consent race campaign at length (`make test` runs 4 rounds); replay one with RACE_SEED=<seed>.
races: $(STAMP) system-deps
	RACE_ROUNDS=200 $(VENV)/bin/pytest -s tests/test_consent_races.py

# Mutated offers at WHIP and WHEP against a real hub (`make test` runs 2,000 of them); prints how many ran.
fuzz: $(STAMP)
	$(PY) -m fuzz --cases 100000

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy hub device_agent porchlight_rtc tests bench fuzz
	@# The Kubernetes manifests against the schemas kubernetes-validate bundles (offline, strict; docs/kubernetes.md).
	$(PY) deploy/k8s/validate.py
	@# deploy/compose.yaml against the Compose Specification's schema (bundled with check-jsonschema; docs/deploy.md).
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
