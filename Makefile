# The README's commands. Each one sets up .venv on first use, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := local,notebooks,dev,speed
# checkov lives in its own venv: it pins boto3==1.35.49 and packaging<24, which would downgrade
# the project's boto3 (its botocore lacks newer Logs parameters) and break pytest 9.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV ?= $(VENV)/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: install test lint demo lab bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

$(CHECKOV):
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)

# checkov offline (no guideline download: BC_SKIP_MAPPING, --skip-download); a check that does
# not apply is skipped in the resource's Metadata (checkov: skip:) with the reason.
lint: $(STAMP) $(CHECKOV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	BC_SKIP_MAPPING=TRUE $(CHECKOV) -d cfn --framework cloudformation --compact --quiet --skip-download

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
