# The two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
LAB_DIR ?= .lab
TOPOLOGY ?= topology/lab.yaml
PYTHON ?= python3
# samba-dsdb-modules and samba-ad-provision are only "Recommends" of samba, but an AD DC
# needs them: name them so a minimal install (no recommends) still gets them. lighttpd
# (with its TLS module) and snmpd serve each lab Unity server's own license page and SNMP
# agent; snmp (snmpget) and curl query them, by hand and in the tests. libkrb5-dev:
# the gssapi package (poolsync[kerberos]) builds against MIT Kerberos.
APT_PACKAGES := samba samba-dsdb-modules samba-ad-provision ldb-tools ldap-utils libnss-wrapper openssl graphviz \
	lighttpd lighttpd-mod-openssl snmpd snmp curl libkrb5-dev
# The tests also open the capacity report's HTML in a headless browser: installed without
# its recommends (with them, 107 packages and 453 MB, upgrading systemd on the way).
# faketime puts one test's clock an hour ahead of the KDC's (Kerberos clock skew).
TEST_APT_PACKAGES := chromium faketime
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
POOLSYNC := $(VENV)/bin/poolsync

.PHONY: setup test-setup system-packages test-system-packages venv demo demo-report test \
	lint unit fuzz soak lab-down clean install-packages bench

setup: system-packages venv

test-setup: test-system-packages venv

system-packages:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

test-system-packages: system-packages
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_APT_PACKAGES)" \
	  APT_FLAGS=--no-install-recommends

install-packages:
	@missing=""; \
	for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_FLAGS) $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "poolsync needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

demo: setup
	$(POOLSYNC) lab up --topology $(TOPOLOGY) --dir $(LAB_DIR)
	$(POOLSYNC) --config $(LAB_DIR)/poolsync.yaml resync --total
	$(POOLSYNC) --config $(LAB_DIR)/poolsync.yaml pool
	@echo "== the same lab read by its service account with a keytab (no password): an incremental resync"
	$(POOLSYNC) --config $(LAB_DIR)/poolsync-kerberos.yaml resync

lint: venv
	$(VENV)/bin/ruff check poolsync topology tests bench
	$(VENV)/bin/ruff format --check poolsync topology tests bench
	$(VENV)/bin/mypy

# The capacity report from a replayed history: resyncs of the lab with subscribers added
# between them, 14 days apart (`poolsync lab grow`), then the HTML report with charts.
demo-report: demo
	$(POOLSYNC) lab grow --dir $(LAB_DIR)
	$(POOLSYNC) --config $(LAB_DIR)/capacity-demo.yaml report capacity || [ $$? -eq 3 ]
	$(POOLSYNC) --config $(LAB_DIR)/capacity-demo.yaml report capacity --format html \
	  --out $(LAB_DIR)/capacity.html || [ $$? -eq 3 ]
	@echo "open $(LAB_DIR)/capacity.html in a browser"

# The whole suite, then its coverage of poolsync and topology: the figure is printed, and
# below the floor ([tool.coverage.report] fail_under in pyproject.toml) the target fails.
test: test-setup lint
	$(VENV)/bin/pytest --cov --cov-report=term

# Throughput and memory against ldapsearch on a cached lab (root, Samba; not in `make
# test`): N subscribers, default 20000. docs/performance.md.
bench: setup
	$(VENV)/bin/python -m bench run --subscribers $(or $(N),20000)

unit: venv
	$(VENV)/bin/pytest tests/unit

# Every parser fed random, mutated and hostile input (the tests marked fuzz), 25 times
# as many examples as `make test` runs; the counts per test at the end. About 20 minutes
# on one core. docs/reliability.md.
fuzz: venv
	$(VENV)/bin/pytest tests/unit -m fuzz --hypothesis-profile=fuzz \
	  --hypothesis-show-statistics --durations=25

# The fault campaign at length: RUNS resyncs through a fault-injecting proxy, with
# SIGKILLs, each store checked (docs/reliability.md). About 3 s a run; needs root and
# Samba, like make test. SEED=N replays a campaign.
soak: test-setup
	POOLSYNC_FAULT_RUNS=$(or $(RUNS),200) POOLSYNC_FAULT_SEED=$(SEED) \
	  $(VENV)/bin/pytest -s tests/integration/test_fault_campaign.py::test_fault_campaign

lab-down: venv
	$(POOLSYNC) lab down --dir $(LAB_DIR)

clean:
	-[ -f $(LAB_DIR)/lab.json ] && $(POOLSYNC) lab down --dir $(LAB_DIR)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
