# Two set-up commands for a fresh machine with only Python: `make run` and `make test`.
# Each creates or updates its own virtual environment in .venv when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test chat bench-faq bench-load clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/szca-bot serve

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

chat: $(STAMP)
	$(VENV)/bin/szca-bot chat

bench-faq: $(STAMP)
	$(VENV)/bin/szca-bot faq-eval

bench-load: $(STAMP)
	$(VENV)/bin/python -m bench.load $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
