# make demo   set up a virtualenv, build and install dp-pix (numpy and Pillow only), write
#             dp-pix-demo.png with `dp-pix demo`
# make test   the same, plus the test extras; run cargo test (the workspace, and the core
#             crate without Python), mypy, stubtest and pytest
# make bench  run the benchmarks against peers
# make wheel-portable  the wheel to publish for this machine's architecture: manylinux2014
#             (glibc >= 2.17), linked by zig from PyPI; checked with auditwheel and twine, and
#             by the seeded-output digests in a fresh virtualenv. In dist/
# make sdist  the source distribution in dist/, checked with twine, then built into a wheel
#             by pip (dist/from-sdist/)

VENV   ?= .venv
PY     := $(VENV)/bin/python
WHEELS := target/wheels
# What the tests need: every extra whose code they exercise.
TEST_EXTRAS := test,ray,eval,faces,video,huggingface
# The wheel is rebuilt only when a source changed (make test after make demo reuses it).
SOURCES := $(shell find crates python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' \
             -o -name '*.toml' -o -name '*.png' -o -name '*.txt' -o -name py.typed \) \
             -not -path '*/__pycache__/*' -not -name '*.so') Cargo.toml Cargo.lock pyproject.toml
STAMP  := $(VENV)/.dp-pix-wheel

DIST   := dist
# The oldest glibc the portable wheel runs on: manylinux2014 is glibc 2.17 (Ubuntu 18.04,
# Debian 9, RHEL/CentOS 7 and later). zig links against that glibc's symbols, no container.
MANYLINUX ?= manylinux2014
HOST   = $(shell rustc -vV | sed -n 's/^host: //p')
DIST_TOOLS := "ziglang>=0.13" "auditwheel>=6" "twine>=6"

.PHONY: demo test wheel bench clean wheel-portable sdist

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "maturin>=1.9.4,<2"

# The wheel the users get: release profile, abi3 (CPython >= 3.10), installed
# with its own dependencies only.
$(STAMP): $(PY) $(SOURCES)
	rm -rf $(WHEELS)
	$(VENV)/bin/maturin build --release --quiet --out $(WHEELS) --interpreter $(PY)
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(WHEELS)/*.whl
	$(PY) -m pip install --quiet $(WHEELS)/*.whl
	touch $@

wheel: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dp-pix demo --overwrite
	@echo "dp-pix is installed in $(VENV): run $(VENV)/bin/dp-pix --help, or 'source $(VENV)/bin/activate' first"

test: $(STAMP)
	$(PY) -m pip install --quiet "$$(ls $(WHEELS)/*.whl)[$(TEST_EXTRAS)]"
	cargo test --workspace
	PYO3_NO_PYTHON=1 cargo test -p dp-pix-core
	$(PY) -m mypy
	$(PY) -m mypy.stubtest dp_pix._dp_pix
	$(PY) -m pytest

# The extension in release (editable, as in development) plus the peers, then
# one run of every case at 1 and 2 threads; BENCH_ARGS="--markdown benches/README.md"
# also writes the tables there.
bench: $(PY)
	$(VENV)/bin/maturin develop --release --quiet --extras bench,video
	rm -f $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benches/run.py $(BENCH_ARGS)

$(VENV)/.dist-tools: $(PY)
	$(PY) -m pip install --quiet $(DIST_TOOLS)
	touch $@

# An explicit --target keeps this build in target/<triple>/, apart from `make wheel`'s.
# maturin finds zig as `python3 -m ziglang`, hence the virtualenv first on PATH.
wheel-portable: $(VENV)/.dist-tools
	rm -rf $(DIST)/*.whl $(DIST)/check
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/maturin build --release --zig \
	    --compatibility $(MANYLINUX) --target $(HOST) --out $(DIST) --interpreter $(PY)
	$(VENV)/bin/auditwheel show $(DIST)/*.whl
	$(VENV)/bin/twine check --strict $(DIST)/*.whl
	python3 -m venv $(DIST)/check
	$(DIST)/check/bin/python -m pip install --quiet $(DIST)/*.whl pytest
	$(DIST)/check/bin/python -c "import dp_pix; assert dp_pix.BACKEND == 'rust', dp_pix.BACKEND"
	cd $(DIST)/check && bin/python -m pytest -q -p no:cacheprovider \
	    --rootdir ../.. -c ../../pyproject.toml ../../tests/test_digests.py

sdist: $(VENV)/.dist-tools
	rm -rf $(DIST)/*.tar.gz $(DIST)/from-sdist
	$(VENV)/bin/maturin sdist --out $(DIST)
	$(VENV)/bin/twine check --strict $(DIST)/*.tar.gz
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(DIST)/from-sdist $(DIST)/*.tar.gz
	ls $(DIST)/from-sdist

clean:
	rm -rf $(VENV) $(WHEELS) $(DIST)
