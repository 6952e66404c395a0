# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP   = $(VENV)/.installed

.PHONY: netns install browser postgres demo test lint docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "medselect needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e '.[dev,ray,postgres,search,dicom]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/medselect demo

# Browser tests drive Debian's Chromium (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium is not installed: browser tests will be skipped"

# PostgreSQL tests start a private server from Debian's binaries (nothing listens on TCP).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } || \
		echo "PostgreSQL is not installed: PostgreSQL tests will be skipped"

# The two-node Ray test puts each node in a network namespace of its own (iproute2's `ip netns`,
# as root); without them it runs the nodes on two loopback addresses.
netns:
	@command -v ip >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2; } || \
		echo "iproute2 is not installed: the two-node Ray test runs on loopback addresses"

test: install browser postgres netns
	$(BIN)/ruff check src tests benchmarks
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check src tests benchmarks

# The documentation site (docs/, mkdocs.yml) into site/, offline; `make test` builds it too.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) medselect-workspace .pytest_cache site
