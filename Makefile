# Two commands do all the set-up on a fresh clone (virtual environment, packages, data):
#   make run     the web app on http://127.0.0.1:7860 (data preparation included)
#   make test    the test suite (quick); `make test-slow` runs the long checks too (CI runs both)
#   make train-quick   train a small model for about a minute on CPU and evaluate it on Lake's runs

PYTHON_SYSTEM ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
QUICK_RUN ?= runs/quick

.PHONY: run train-quick test test-slow setup data browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .   # the `siamese` command
	touch $@

data: $(VENV)/.installed
	$(PYTHON) scripts/prepare_data.py

run: data
	$(PYTHON) app.py

train-quick: data
	$(PYTHON) scripts/train.py --loss prototypical --model-args '{"input_size": 28}' --steps 300 --eval-every 100 --out-dir $(QUICK_RUN)
	$(PYTHON) scripts/evaluate.py lake-runs --model $(QUICK_RUN)/best --plot $(QUICK_RUN)/lake_runs.png

# Debian's Chromium for the browser test (tests/test_app_browser.py): Playwright drives it through
# executable_path, so `playwright install` (which downloads its own browsers) is not needed.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "Chromium is missing, and installing it needs root: run 'apt-get install -y chromium' as root." >&2; exit 1; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	    || { echo "Could not install Chromium: run 'sudo apt-get install -y chromium' (the browser test needs it)." >&2; exit 1; }; }

test: data browser
	$(PYTHON) -m pytest -q -m "not slow"

test-slow: data
	$(PYTHON) -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs data/cache
