# The README's commands. Each one sets up .venv on first use, so a fresh clone needs nothing else.
# Each installs only what it needs (one stamp per set of extras), pinned by constraints.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
# --no-compile: Python compiles what is imported on first use instead of every file up front.
PIP_INSTALL := $(PY) -m pip install -q --disable-pip-version-check --no-compile -c constraints.txt
DEMO_EXTRAS := local,notebooks
LAB_EXTRAS := local,lab
TEST_EXTRAS := local,dev,speed
LAB_ARGS ?=
# One pytest-xdist worker per core; a module's tests stay on one worker (module fixtures such as
# the executed notebooks are built once), slow modules first (tests/conftest.py), and the 15
# slowest tests are printed.
PYTEST_ARGS ?= -n auto --dist loadscope --no-loadscope-reorder --durations=15
# checkov lives in its own venv: it pins boto3==1.35.49 and packaging<24, which would downgrade
# the project's boto3 (its botocore lacks newer Logs parameters) and break pytest 9.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV ?= $(VENV)/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: install test test-aws lint demo lab bench constraints clean

$(VENV)/.created:
	test -x $(PY) || python3 -m venv $(VENV)
	touch $@

# $(1): the stamp's name, $(2): the extras it installs.
define extras_stamp
$(VENV)/.stamp-$(1): pyproject.toml constraints.txt | $(VENV)/.created
	$$(PIP_INSTALL) -e '.[$(2)]'
	$$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $$@
endef
$(eval $(call extras_stamp,demo,$(DEMO_EXTRAS)))
$(eval $(call extras_stamp,lab,$(LAB_EXTRAS)))
$(eval $(call extras_stamp,test,$(TEST_EXTRAS)))

install: $(VENV)/.stamp-test

$(CHECKOV):
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# checkov offline (no guideline download: BC_SKIP_MAPPING, --skip-download); a check that does
# not apply is skipped in the resource's Metadata (checkov: skip:) with the reason.
lint: $(VENV)/.stamp-test $(CHECKOV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	BC_SKIP_MAPPING=TRUE $(CHECKOV) -d cfn --framework cloudformation --compact --quiet --skip-download

test: lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

# The end-to-end scenario on a real sandbox (README "Testing on real AWS"): skipped, with the
# reason, when XACCOUNT_OPS_AWS_TEST_CONFIG is unset. `make test` runs the same code locally.
test-aws: $(VENV)/.stamp-test
	$(VENV)/bin/pytest -q -s -rs -p no:cacheprovider --timeout 3600 \
		tests/aws_scenario/test_scenario.py::test_scenario_on_aws

demo: $(VENV)/.stamp-demo
	$(PY) -m xaccount_ops.lab.demo --out out

# Ctrl-C, SIGTERM or SIGHUP stops JupyterLab and the local cloud it started (exec: make is the
# demo's parent, so a SIGTERM to make alone reaches it too). LAB_ARGS go to the demo / jupyter lab.
lab: $(VENV)/.stamp-lab
	exec $(PY) -m xaccount_ops.lab.demo --lab $(LAB_ARGS)

bench: $(VENV)/.stamp-test
	@for script in bench/*_bench.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Regenerate the lock file from a fresh venv with every extra (after changing dependencies).
constraints:
	rm -rf .venv-constraints
	python3 -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --disable-pip-version-check -e '.[local,dev,speed]'
	( echo "# pip freeze --exclude-editable of a fresh venv with .[local,dev,speed]: make constraints"; \
	  .venv-constraints/bin/python -m pip freeze --exclude-editable ) > constraints.txt
	rm -rf .venv-constraints

clean:
	rm -rf out .local-cloud
