# Facteur: `make run` and `make test` are the two commands a fresh Debian/Ubuntu machine needs.
# Both first install what is missing (scripts/install-deps.sh), so they work on a new machine.

SHELL := /bin/bash
SWIFT ?= swift
# Extra arguments for `swift test`, e.g. make test SWIFT_TEST_FLAGS='--filter PostgresTests'
SWIFT_TEST_FLAGS ?=
FORMAT_PATHS := Sources Tests Package.swift

.PHONY: help run test build release lint format clean-db bench-import deps deps-test
.DEFAULT_GOAL := help

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## run: install what is missing, then `facteur dev` (private PostgreSQL under .facteur/, migrations, API)
run: deps
	$(SWIFT) run facteur dev

## test: install what the tests need, build everything (the worker fault tests run the facteur
## binary), then `swift test` (tests start their own cluster in .facteur/test-pg)
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)

## deps, deps-test: only install what `run` / `test` need
deps:
	bash scripts/install-deps.sh run

deps-test:
	bash scripts/install-deps.sh test

## build: debug build
build:
	$(SWIFT) build

## release: optimized build in .build-release (its own scratch path, so it does not evict the debug build)
release:
	$(SWIFT) build -c release --scratch-path .build-release

## lint: what CI checks: swift format (from the toolchain) with .swift-format, warnings fail
lint:
	$(SWIFT) format lint --strict -r $(FORMAT_PATHS)

## format: rewrite Sources, Tests and Package.swift in place with .swift-format
format:
	$(SWIFT) format format -i -r $(FORMAT_PATHS)

## clean-db: stop the private PostgreSQL clusters and remove .facteur/ (all local data)
clean-db:
	bash scripts/clean-db.sh

## bench-import: time `facteur import` of 1M rows against psql's copy (bench/import.sh)
bench-import:
	bash bench/import.sh
