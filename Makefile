# `make train` and `make test` set everything up on first use: a .venv with the pinned packages
# (constraints.txt) and, when run as root with apt-get, Debian's FashionMNIST package.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup data train test lint format docs serve-docs clean

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[sweeps,dev,notebooks,mlflow,docs]"
	touch $@

# FashionMNIST's real files from Debian (dataset-fashion-mnist); without root or apt-get, go on:
# the data module then looks in data/ or downloads (see README, "Data").
data:
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	      || echo "note: could not install dataset-fashion-mnist; FashionMNIST runs need the files another way"; \
	  else echo "note: not root or no apt-get; FashionMNIST comes from data/ or a download"; fi; \
	fi

train: setup
	$(PY) train.py $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, configured in pyproject.toml: the linter and the formatter's check (notebooks included).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The documentation site (mkdocs.yml, docs/): built into site/, every warning an error; served at http://127.0.0.1:8000.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

serve-docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

clean:
	rm -rf outputs/runs outputs/multirun .pytest_cache site
