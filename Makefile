# Two commands do all the set-up on a fresh clone (virtual environment, packages, data):
#   make run     the main job: prepare the data, train a model briefly on CPU and evaluate it
#   make test    the test suite (quick); `make test-slow` runs the long checks too (CI runs both)

PYTHON_SYSTEM ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
QUICK_RUN ?= runs/quick

.PHONY: run test test-slow setup data clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

data: $(VENV)/.installed
	$(PYTHON) scripts/prepare_data.py

run: data
	$(PYTHON) scripts/train.py --loss prototypical --model-args '{"input_size": 28}' --steps 300 --eval-every 100 --out-dir $(QUICK_RUN)
	$(PYTHON) scripts/evaluate.py lake-runs --model $(QUICK_RUN)/best --plot $(QUICK_RUN)/lake_runs.png

test: data
	$(PYTHON) -m pytest -q -m "not slow"

test-slow: data
	$(PYTHON) -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs data/cache
