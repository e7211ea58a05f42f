# model.mk: the sentiment model (VADER port), included by the top-level
# Makefile, which defines BUILD, CC, CSTD, WARN, SAN and OPT first.
#
#   $(BUILD)/vader-cli               id<TAB>text lines in, scores out
#   $(BUILD)/tests/test_vader        unit tests per rule (TAP)
#   $(BUILD)/tests/test_vader_smoke  differential test against the reference
#   $(BUILD)/bench/bench_model       micro-benchmark (prints, never fails)
#   model-test, model-bench          build and run them
#
# MODEL_SRCS is what the server module links (libc, libm, libcrypto).  The
# scores reproduce the Python reference bit for bit only without fused
# multiply-add, hence -ffp-contract=off here: compile MODEL_SRCS for the
# server with it too (GCC in ISO C mode and vader.c under clang already
# do not contract).

# Included early, this file must not become the default goal.
MODEL_SAVED_GOAL := $(.DEFAULT_GOAL)

MODEL_SRCS := src/model/model.c src/model/vader.c src/model/vader_lexicon.c \
	src/model/vader_unicode.c src/model/sha256.c
MODEL_HDRS := src/model/model.h src/model/vader.h src/model/sha256.h \
	src/model/vader_unicode_tab.h
MODEL_CFLAGS := -ffp-contract=off -Isrc/model
# libcrypto for sha256.c (the kore binary links it already).
MODEL_LIBS := -lcrypto -lm
MODEL_TEST_OPT := -O1 -g

MODEL_UNIT_TESTS := $(BUILD)/tests/test_vader $(BUILD)/tests/test_vader_smoke \
	$(BUILD)/tests/test_vader_overlay
MODEL_TEST_ARGS_test_vader := src/model/vader
MODEL_TEST_ARGS_test_vader_smoke := tests/data/sentiment_smoke.tsv \
	src/model/vader
MODEL_TEST_ARGS_test_vader_overlay := src/model/vader \
	src/model/versions/vader/3.4.0 tests/data/sentiment_smoke.tsv

$(BUILD)/vader-cli: src/model/vader_cli.c $(MODEL_SRCS) $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(OPT) $(MODEL_CFLAGS) -o $@ \
	    src/model/vader_cli.c $(MODEL_SRCS) $(MODEL_LIBS)

$(BUILD)/tests/test_vader: tests/unit/test_vader.c tests/unit/tap.c \
    tests/unit/tap.h $(MODEL_SRCS) $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN) $(MODEL_TEST_OPT) $(MODEL_CFLAGS) \
	    -Itests/unit -o $@ tests/unit/test_vader.c tests/unit/tap.c \
	    $(MODEL_SRCS) $(MODEL_LIBS)

$(BUILD)/tests/test_vader_smoke: tests/unit/test_vader_smoke.c \
    tests/unit/tap.c tests/unit/tap.h $(MODEL_SRCS) $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN) $(MODEL_TEST_OPT) $(MODEL_CFLAGS) \
	    -Itests/unit -o $@ tests/unit/test_vader_smoke.c tests/unit/tap.c \
	    $(MODEL_SRCS) $(MODEL_LIBS)

$(BUILD)/tests/test_vader_overlay: tests/unit/test_vader_overlay.c \
    tests/unit/tap.c tests/unit/tap.h $(MODEL_SRCS) $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN) $(MODEL_TEST_OPT) $(MODEL_CFLAGS) \
	    -Itests/unit -o $@ tests/unit/test_vader_overlay.c tests/unit/tap.c \
	    $(MODEL_SRCS) $(MODEL_LIBS)

$(BUILD)/bench/bench_model: tests/bench/bench_model.c $(MODEL_SRCS) \
    $(MODEL_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(OPT) $(MODEL_CFLAGS) -o $@ \
	    tests/bench/bench_model.c $(MODEL_SRCS) $(MODEL_LIBS)

.PHONY: model-test model-bench
model-test: $(MODEL_UNIT_TESTS)
	$(BUILD)/tests/test_vader $(MODEL_TEST_ARGS_test_vader)
	$(BUILD)/tests/test_vader_smoke $(MODEL_TEST_ARGS_test_vader_smoke)
	$(BUILD)/tests/test_vader_overlay $(MODEL_TEST_ARGS_test_vader_overlay)

model-bench: $(BUILD)/bench/bench_model
	$(BUILD)/bench/bench_model src/model/vader

.DEFAULT_GOAL := $(MODEL_SAVED_GOAL)
