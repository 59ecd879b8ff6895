# workload_guard — PGXS build.
#
#   make            build            make install   install into pg_config's tree
#   make demo       throwaway server + workload + views (installs its own deps)
#   make test       every test suite (installs its own deps), pass/fail summary,
#                   on the PostgreSQL of PG_CONFIG (the machine's own 15)
#   make test-all   the same suites on 15, 17, 18 and 19 (Debian chroots,
#                   created and cached by scripts/chroot.sh); PG=17 make test
#                   for one major
#   make test-sanitize  the same against an assert-enabled PostgreSQL, server
#                   and extension built with ASan+UBSan (WG_SANITIZE_PG=18|15)
#   make bench      callgrind instructions per statement vs pg_stat_statements
#   make soak       32 clients and configuration churn for WG_SOAK_SECONDS (600)
#
# Sources, regression tests, isolation specs and TAP tests are picked up by
# wildcard so that adding a concern means adding files, not editing lists.

EXTENSION  = workload_guard
MODULE_big = workload_guard
DATA       = workload_guard--1.0.sql workload_guard--1.0--1.1.sql
PGFILEDESC = "workload_guard - tail latency, DDL discipline and incident brakes"

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers
# extra compiler flags, e.g. sanitizers (make test-sanitize sets them)
PG_CFLAGS  += $(WG_EXTRA_CFLAGS)

# Every suite boots its own preloaded server (pg_cron's pattern), so
# "make installcheck" needs no running cluster.
REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check_iso \
                 --inputdir=test/isolation --outputdir=output_iso
TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# PG_CONFIG from the environment or the command line, else pg_config on PATH,
# else Debian 12's PostgreSQL 15 (PGXS users' expectation).
PG_CONFIG ?= $(firstword $(shell command -v pg_config) $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
# -Wsign-compare is on (queryId's signedness changed in 18), but the server's
# own headers are not sign-clean (ARR_DATA_PTR): read them as system headers,
# so their macros do not warn inside our code
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
include $(PGXS)

# every object depends on every header of ours (PGXS only tracks them with
# --enable-depend): a changed struct never leaves a stale object behind
$(OBJS): $(wildcard src/*.h)
else
# no server headers yet: only "make demo" and "make test" (which install
# them) can run
all install installcheck:
	@echo "pg_config not found: run 'make test' or 'make demo' (they install PostgreSQL 15), or set PG_CONFIG" >&2; exit 1
endif

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results regression.diffs \
              regression.out demo_data

.PHONY: demo test test-all test-sanitize bench soak
demo:
	bash scripts/demo.sh

test:
ifeq ($(PG),)
	bash scripts/run_all.sh
else
	WG_MAJORS="$(PG)" bash scripts/test_all.sh
endif

test-all:
	bash scripts/test_all.sh

test-sanitize:
	bash scripts/sanitize.sh

bench:
	bash test/bench/callgrind.sh

soak:
	bash scripts/soak.sh
