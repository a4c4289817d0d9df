# make demo   set up a virtualenv, build the release extension, run `dp-pix demo`
# make test   set up, build an abi3 wheel, install it, run cargo test, stubtest and pytest
# make bench  run the benchmarks against peers

VENV   ?= .venv
PY     := $(VENV)/bin/python
WHEELS := target/wheels

.PHONY: demo test wheel bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "maturin>=1.9.4,<2"

# The wheel the users get: release profile, abi3 (CPython >= 3.10).
wheel: $(PY)
	rm -rf $(WHEELS)
	$(VENV)/bin/maturin build --release --quiet --out $(WHEELS) --interpreter $(PY)
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(WHEELS)/*.whl
	$(PY) -m pip install --quiet "$$(ls $(WHEELS)/*.whl)[test,ray,eval,video]"

demo: wheel
	$(VENV)/bin/dp-pix demo

test: wheel
	cargo test
	$(PY) -m mypy.stubtest dp_pix._dp_pix
	$(PY) -m pytest

# The extension in release (editable, as in development) plus the peers, then
# one run of every case at 1 and 2 threads; BENCH_ARGS="--markdown benches/README.md"
# also writes the tables there.
bench: $(PY)
	$(VENV)/bin/maturin develop --release --quiet --extras bench,video
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benches/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(WHEELS)
