# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install, run the main job on the embedded data
#   make test  - same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	MPLBACKEND=Agg $(PY) run_backtest.py $(ARGS)

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/fast_engine.py

clean:
	rm -rf $(VENV) output .pytest_cache
