# The README's commands. Each one sets up .venv on first use, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := local,notebooks,dev,speed

.PHONY: install test lint demo lab bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q

demo: $(STAMP)
	$(PY) -m xaccount_ops.demo --out out

lab: $(STAMP)
	$(PY) -m xaccount_ops.demo --lab

bench: $(STAMP)
	@for script in bench/*_bench.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf out .local-cloud
