# The two set-up commands of the README:
#   make demo   install everything, bring the local stack up, seed Seattle and plan a trip
#   make test   install everything and run the test suite
# Everything goes into .venv (and .venv-tasks for the Cloud Tasks emulator, which pins protobuf<5).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TASKS_STAMP := .venv-tasks/.installed
MODEL_STAMP := .cache/models/.exported
CONSOLE := functions/admin/console
CONSOLE_STAMP := $(CONSOLE)/vendor/.installed
CHROMIUM := /usr/bin/chromium
# apt-get as root, else through sudo; `apt-get update` only when the package lists do not know the package yet
APT_INSTALL = sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$sudo apt-get install -y -q --no-install-recommends $(1) >/dev/null 2>&1 || \
	{ $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q --no-install-recommends $(1) >/dev/null; }

.PHONY: install demo test up down status bench clean chromium console-assets

install: $(STAMP) $(TASKS_STAMP) $(MODEL_STAMP) console-assets chromium

console-assets: $(CONSOLE_STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else "Python 3.11 or 3.12 is needed (set PYTHON=...)")'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (first run takes a few minutes)..."
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q --progress-bar off -e ".[local,trainer,infra,dev]"
	@touch $(STAMP)

$(TASKS_STAMP):
	@test -d .venv-tasks || $(PYTHON) -m venv .venv-tasks
	@.venv-tasks/bin/pip install -q gcloud-tasks-emulator==0.6.2
	@touch $(TASKS_STAMP)

$(MODEL_STAMP): $(STAMP)
	@echo "exporting all-MiniLM-L6-v2 to ONNX (once)..."
	@$(PY) -m shared.engine.embeddings.export
	@touch $(MODEL_STAMP)

# The console's browser libraries (chart.js, leaflet) from the npm registry, pinned by package-lock.json, copied
# into the folder the admin function serves (vendor/ is generated: ignored by git, copied into the image by the
# Dockerfile, which refuses to build without it). npm itself comes from Debian when missing.
$(CONSOLE_STAMP): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "installing Debian's npm (the console's assets)..."; $(call APT_INSTALL,npm); }
	@cd $(CONSOLE) && npm ci --silent --no-audit --no-fund --ignore-scripts
	@mkdir -p $(CONSOLE)/vendor
	@cp $(CONSOLE)/node_modules/chart.js/dist/chart.umd.js $(CONSOLE)/node_modules/leaflet/dist/leaflet.js \
	    $(CONSOLE)/node_modules/leaflet/dist/leaflet.css $(CONSOLE)/vendor/
	@touch $(CONSOLE_STAMP)

# Debian's Chromium for the console's browser tests: Playwright (the dev extra) drives /usr/bin/chromium and never
# downloads a browser. Checked on every install (a file test: instant when present).
chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium (the console's browser tests)..."; \
	    $(call APT_INSTALL,chromium); test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing"; exit 1; }; }

demo: install
	@$(PY) -m emulators.demo

up: install
	@$(PY) -m emulators.cli up

down:
	@$(PY) -m emulators.cli down

status:
	@$(PY) -m emulators.cli status

test: install
	@$(PY) -m pytest -q

# Heavy benchmarks: never part of `make test`; each writes bench/results/<name>.json.
bench: install
	$(PY) bench/stack_bench.py
	$(PY) bench/seed_bench.py
	$(PY) bench/trips_bench.py
	$(PY) bench/itinerary_quality.py --seed-missing --cities seattle,paris,san-francisco,seoul,los-angeles,new-orleans,brooklyn,busan
	$(PY) bench/signals_load.py
	$(PY) bench/load_targets.py
	$(PY) bench/fuzz.py --requests 10000
	$(PY) bench/engine_bench.py
	$(PY) bench/sequence_bench.py
	$(PY) bench/learning_loop.py
	$(PY) bench/group_bench.py
	$(PY) bench/recs_bench.py --prepare

clean: down
	rm -rf .local .cache
