# Every target works from nothing: it makes .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install demo test lint docs bench airflow-check clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $@

install: $(STAMP)

# A fresh campaign each time: drop the previous demo's results and journal first.
# The sample has bad rows on purpose, so exit status 1 ("some rows need
# attention") is the expected outcome here; anything else fails the target.
demo: $(STAMP)
	rm -f samples/campaign-results.csv samples/campaign-results.csv.journal.sqlite*
	$(BIN)/batch-sender validate samples/campaign.csv || test $$? -eq 1
	$(BIN)/batch-sender send samples/campaign.csv -o samples/campaign-results.csv --simulate \
		|| test $$? -eq 1
	@echo "Result file: samples/campaign-results.csv"

# One worker per core: most of the suite's time is waiting (subprocesses, the
# simulator's answers, reports to come), not computing. Tests share no port,
# folder or variable. worksteal: a few tests take seconds, most milliseconds.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

# The catalogs: extract the marked texts (ours, and Click's own for --help and its
# errors), merge them into the .po files, compile the .mo files shipped in the
# package. Run it after changing any text a person reads, then translate what
# the .po files mark as new or fuzzy, and run it again.
LOCALE := batch_sender/locale
BABEL := $(BIN)/python -m babel.messages.frontend

messages: $(TEST_STAMP)
	$(BABEL) extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location --sort-output \
		--omit-header -o $(LOCALE)/batch_sender.pot .
	$(BABEL) extract -k _ -k ngettext:1,2 --no-location --sort-output --omit-header \
		-o $(LOCALE)/click.pot "$$($(BIN)/python -c 'import click, os; print(os.path.dirname(click.__file__))')"
	for domain in batch_sender click; do \
		$(BABEL) update -i $(LOCALE)/$$domain.pot -d $(LOCALE) -D $$domain -l vi \
			--init-missing --no-wrap --ignore-obsolete || exit 1; \
		$(BABEL) compile -d $(LOCALE) -D $$domain -l vi --statistics || exit 1; \
	done

# The site from docs/ into site/; --strict makes a broken link or anchor fail.
$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(STAMP) $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Its own environment with the runtime dependencies only, as `make install`
# gives users: the test extras bring pyarrow, which pandas 3 then imports at
# start-up (+60 MB), and the numbers would describe another installation.
BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e .
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/bench.py

# The example DAG under real Apache Airflow, in an environment of its own:
# Airflow is no dependency of the package, and its pins must not steer the
# versions the tests run with. Standalone: a temporary AIRFLOW_HOME with a
# SQLite database, `airflow dags test` against the simulator on 127.0.0.1.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_VERSION ?= 3.3.2

$(AIRFLOW_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e .
	touch $@

airflow-check: $(AIRFLOW_VENV)/.installed
	$(AIRFLOW_VENV)/bin/python tests/airflow_check.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(AIRFLOW_VENV) site .pytest_cache .mypy_cache .ruff_cache samples/campaign-results.csv*
