# Porchlight: `make demo` runs the demo, `make test` runs the whole suite. Both set themselves up.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint system-deps serve clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hub demo

serve: $(STAMP)
	$(PY) -m hub serve

# Debian packages the tests drive for real: redis-server and chromium.
system-deps:
	@if ! command -v redis-server >/dev/null || [ ! -x /usr/lib/chromium/chromium ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server chromium; \
	fi

test: $(STAMP) system-deps
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy hub device_agent porchlight_rtc tests bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
