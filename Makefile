# The two set-up commands: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch lies on this project's machines' disks; a bare "torch" requirement would
# pull a multi-GB CUDA build. On a GPU machine: make demo TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed
# Every transitive version that demo, test and CI install (torch aside: TORCH_SPEC pins it).
# Refreshed on purpose with `make lock`; review and commit its diff.
LOCK   := requirements.lock
DEMO_OUT ?= results/demo
# Where the Inception weights are present (`gan-study weights`), the demo also scores its kept
# generators in Inception space (gan-study rescore; minutes on a CPU): `make demo DEMO_RESCORE=` skips it.
DEMO_RESCORE ?= inception

.PHONY: demo test test-fast lint bench venv clean-demo weights lock

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dev]'
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[oracle]' || echo "oracle extra not installed (torchvision must match torch): the oracle tests will skip"
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dinov2]' || echo "dinov2 extra not installed (timm; torchvision must match torch): the DINOv2 feature spaces and their tests are unavailable"
	@touch $@

demo: $(STAMP)
	@start=$$(date +%s); \
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/gan-study run search_spaces/demo.yaml --out $(DEMO_OUT) && \
	$(BIN)/gan-study analyze $(DEMO_OUT) && \
	{ [ -z "$(DEMO_RESCORE)" ] || ! $(BIN)/gan-study weights --check >/dev/null 2>&1 || \
	  $(BIN)/gan-study rescore $(DEMO_OUT) --feature-extractor $(DEMO_RESCORE) --metrics fid+kid+pr+dc; } && \
	$(BIN)/gan-study report $(DEMO_OUT) -o $(DEMO_OUT)/report && \
	echo "demo finished in $$(( $$(date +%s) - start ))s; Parquet results: $(DEMO_OUT)/results; plot: $(DEMO_OUT)/analysis/top5_fid.png; report: $(DEMO_OUT)/report/index.html"

test: $(STAMP)
	$(BIN)/ruff check .
	-@$(BIN)/gan-study weights || echo "Inception weights not fetched: the Inception tests will skip"
	$(BIN)/python -m pytest -q

# The unit tests alone: no Ray, nothing slow (under a minute).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not ray"

# pyflakes, import order and line length (pyproject.toml [tool.ruff]); `make test` runs it first.
lint: $(STAMP)
	$(BIN)/ruff check .

weights: $(STAMP)
	$(BIN)/gan-study weights

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Resolve the newest versions pyproject.toml admits in a scratch venv and write them all down.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q "$(TORCH_SPEC)"
	.lock-venv/bin/python -m pip install -q -e '.[dev,oracle,dinov2]'
	{ echo "# Locked by 'make lock' on $$(date -u +%Y-%m-%d) with $$(.lock-venv/bin/python --version); torch comes from TORCH_SPEC."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v -i '^torch=='; } > $(LOCK)
	rm -rf .lock-venv
	@echo "wrote $(LOCK): review its diff and commit it"

clean-demo:
	rm -rf $(DEMO_OUT)
