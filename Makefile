# The two set-up commands: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch lies on this project's machines' disks; a bare "torch" requirement would
# pull a multi-GB CUDA build. On a GPU machine: make demo TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed
DEMO_OUT ?= results/demo

.PHONY: demo test bench venv clean-demo weights

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: $(STAMP)
	@start=$$(date +%s); \
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/gan-study run search_spaces/demo.yaml --out $(DEMO_OUT) && \
	$(BIN)/gan-study analyze $(DEMO_OUT) && \
	echo "demo finished in $$(( $$(date +%s) - start ))s; Parquet results: $(DEMO_OUT)/results; plot: $(DEMO_OUT)/analysis/top5_fid.png"

test: $(STAMP)
	-@$(BIN)/gan-study weights || echo "Inception weights not fetched: the Inception tests will skip"
	$(BIN)/python -m pytest -q

weights: $(STAMP)
	$(BIN)/gan-study weights

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-demo:
	rm -rf $(DEMO_OUT)
