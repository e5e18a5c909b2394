# Two entry points (see README): `make run` and `make test`. Both build what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
HOST   ?= 127.0.0.1
PORT   ?= 8866
WORKSPACE ?= $(CURDIR)/data/demo.duckdb
export LIFECYCLE_WORKSPACE := $(WORKSPACE)

.PHONY: run test lab env env-test demo lint browser java lock bench clean

run: env demo  ## set up, build the demo workspace if missing, serve the dashboards
	$(BIN)/lifecycle serve --host $(HOST) --port $(PORT) $(if $(TOKEN),--token $(TOKEN))

test: env-test browser java lint  ## set up with test extras, lint, run the whole suite
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lab: env demo  ## JupyterLab on the notebooks
	$(BIN)/jupyter lab --no-browser --ip=$(HOST) --allow-root notebooks/

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==0.13.9"

env: $(UV)
	$(UV) pip install -q --python $(BIN)/python -c requirements.lock -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

env-test: $(UV)
	$(UV) pip install -q --python $(BIN)/python -c requirements.lock -e ".[test,spark,dns]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

demo: env
	@test -f $(WORKSPACE) || $(BIN)/lifecycle demo --path $(WORKSPACE)

browser:
	@sh .ci/ensure-chromium

java:
	@sh .ci/ensure-java

lint: env-test
	$(BIN)/ruff check lifecycle tests bench notebooks dashboards

lock: $(UV)  ## re-pin every dependency (commit the result)
	$(UV) pip compile pyproject.toml --extra test --extra spark --extra dns --python-version 3.11 -q \
		-o requirements.lock

bench: env-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data/*.duckdb data/*.duckdb.*
