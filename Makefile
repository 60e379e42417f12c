# cdt: content-defined deduplication toolkit. One Makefile for everything.
#
#   make                build ./cdt (and ./cdt-mount-helper-free: FUSE is built in when found)
#   make test           run the unit tests and the bats suite (installs deps first)
#   make demo           ingest a generated backup series and report the numbers
#   make bench          throughput figures against the machine's limits
#   make bench-mount    cdt mount alone: sequential, random 4 KiB reads, memory
#   make bench-mount-peers  cdt mount against casync mount, the same file read
#                       the same way (needs casync and the gen-series.sh series)
#   make bench-integrity  fsck, verify and repair speeds only
#   make bench-tree     a tree of many files stored, stored again and restored, beside borg and restic
#   make bench-remote   a store read over HTTPS (nginx, loopback) against the same store read locally
#   make bench-s3       cdt push to a real S3 gateway (radosgw) against restic copy to it
#   make bench-defaults  store size and speed per set of init parameters
#                       (DATA=DIR; Documentation/technical/defaults.md)
#   make bench-scale    a store of millions of chunks against a small one (long;
#                       SCALE_GIB=8 by default; make bench runs it with BENCH_SCALE=1)
#   make install        prefix=/usr/local DESTDIR=
#   make SANITIZE=1 ... build and test with ASan + UBSan
#   make TSAN=1 ...     build and test with ThreadSanitizer (build-tsan/cdt)
#   make fuzz           libFuzzer targets for every on-disk parser, FUZZ_SECONDS each
#   make FUSE=0         leave out cdt mount even where libfuse3 is installed
#   make CURL=0         leave out remote stores (https://) even where libcurl is installed
#   make BUILD=DIR      build in DIR (binary DIR/cdt) without touching ./cdt
#   make DEFLATE=zlib   use zlib instead of libdeflate for chunk (de)compression
#   make V=1            show the commands

prefix ?= /usr/local
bindir ?= $(prefix)/bin
mandir ?= $(prefix)/share/man
bashcompdir ?= $(prefix)/share/bash-completion/completions

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
DEFLATE ?= libdeflate

ifeq ($(V),1)
Q =
else
Q = @
endif

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

PKGS = libcrypto zlib libzstd
ifeq ($(DEFLATE),zlib)
DEFLATE_CFLAGS = -DCDT_USE_ZLIB
else ifeq ($(DEFLATE),libdeflate)
PKGS += libdeflate
DEFLATE_CFLAGS =
else
$(error DEFLATE must be libdeflate or zlib)
endif

# FUSE=auto (default): cdt mount when pkg-config finds fuse3; FUSE=0: never;
# FUSE=1: required.
FUSE ?= auto
ifeq ($(FUSE),0)
HAVE_FUSE =
else
HAVE_FUSE := $(shell $(PKG_CONFIG) --exists fuse3 2>/dev/null && echo 1)
ifeq ($(FUSE)$(HAVE_FUSE),1)
$(error FUSE=1 but pkg-config does not find fuse3 (apt-get install libfuse3-dev))
endif
endif

# CURL=auto (default): remote stores (https://) when pkg-config finds
# libcurl; CURL=0: never; CURL=1: required.
CURL ?= auto
ifeq ($(CURL),0)
HAVE_CURL =
else
HAVE_CURL := $(shell $(PKG_CONFIG) --exists libcurl 2>/dev/null && echo 1)
ifeq ($(CURL)$(HAVE_CURL),1)
$(error CURL=1 but pkg-config does not find libcurl (apt-get install libcurl4-openssl-dev))
endif
endif

WARNINGS = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wno-unused-parameter -Wformat=2 -Wvla
BASE_CFLAGS = -std=c11 -Ilib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread $(WARNINGS) \
	      -DCDT_VERSION='"$(VERSION)"' $(DEFLATE_CFLAGS)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lcrypto -lz -lzstd -ldeflate)

ifeq ($(HAVE_FUSE),1)
FUSE_CFLAGS := -DCDT_HAVE_FUSE $(shell $(PKG_CONFIG) --cflags fuse3)
FUSE_LIBS := $(shell $(PKG_CONFIG) --libs fuse3)
endif

# libcurl is loaded when a remote store is first used (lib/base/http.c),
# not linked: linked, it brought some thirty libraries whose loading cost
# every command about 35 ms. The name to load is its SONAME, as built against.
ifeq ($(HAVE_CURL),1)
CURL_SONAME := $(shell objdump -p "$$($(PKG_CONFIG) --variable=libdir libcurl)/libcurl.so" \
		 2>/dev/null | sed -n 's/^ *SONAME *//p')
ifeq ($(CURL_SONAME),)
CURL_SONAME = libcurl.so.4
endif
CURL_CFLAGS := -DCDT_HAVE_CURL -DCDT_CURL_SONAME='"$(CURL_SONAME)"' \
	       $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS := -ldl
endif

ifeq ($(FUZZ),1)
# The library instrumented for libFuzzer (clang only); targets link with
# -fsanitize=fuzzer, which brings libFuzzer's main().
SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
      -fno-sanitize-recover=all
BUILD ?= build-fuzz
else ifeq ($(SANITIZE),1)
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# GCC's shared libubsan holds 5.8 MiB of zeroed globals, which LeakSanitizer
# scans at every exit: 30 ms of each process's 70 here. Linked into the
# binary, UBSan reports as before and the exit costs 40 ms.
SAN_LDFLAGS := $(if $(shell $(CC) --version 2>/dev/null | grep -i clang),,-static-libubsan)
BUILD ?= build-san
else ifeq ($(TSAN),1)
# ThreadSanitizer, for the threaded parts (add's commit thread and worker
# pool, restore, diff, the remote cache).
SAN = -fsanitize=thread -fno-omit-frame-pointer
BUILD ?= build-tsan
else
SAN =
BUILD ?= build
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(FUSE_CFLAGS) $(CURL_CFLAGS) $(CFLAGS) $(SAN)
ALL_LDFLAGS = $(LDFLAGS) $(SAN) $(SAN_LDFLAGS) -pthread
LIBS = $(PKG_LIBS) -lm $(FUSE_LIBS) $(CURL_LIBS)

LIB_SOURCES = \
	lib/base/alloc.c \
	lib/base/cid.c \
	lib/base/compress.c \
	lib/base/csum-file.c \
	lib/base/error.c \
	lib/base/exclude.c \
	lib/base/fsutil.c \
	lib/base/hash.c \
	lib/base/http.c \
	lib/base/idset.c \
	lib/base/mountinfo.c \
	lib/base/strbuf.c \
	lib/base/testpoint.c \
	lib/base/util.c \
	lib/base/workers.c \
	lib/format/chunker.c \
	lib/format/config.c \
	lib/format/fanout.c \
	lib/format/filescache.c \
	lib/format/info.c \
	lib/format/info-marks.c \
	lib/format/info-write.c \
	lib/format/manifest.c \
	lib/format/mpack.c \
	lib/format/midx.c \
	lib/format/namerefs.c \
	lib/format/namerefs-walk.c \
	lib/format/names.c \
	lib/format/names-check.c \
	lib/format/names-walk.c \
	lib/format/names-room.c \
	lib/format/object.c \
	lib/format/pack.c \
	lib/format/pack-scan.c \
	lib/format/pack-write.c \
	lib/format/refs.c \
	lib/format/refs-write.c \
	lib/format/sketch.c \
	lib/format/store.c \
	lib/ops/batch.c \
	lib/ops/cache-trim.c \
	lib/ops/chunks.c \
	lib/ops/diff.c \
	lib/ops/fsck-data.c \
	lib/ops/fsck-packs.c \
	lib/ops/fsck-refs.c \
	lib/ops/fsck.c \
	lib/ops/gc.c \
	lib/ops/gc-packs.c \
	lib/ops/ahead.c \
	lib/ops/ingest.c \
	lib/ops/ingest-read.c \
	lib/ops/ingest-delta.c \
	lib/ops/ingest-candidates.c \
	lib/ops/ingest-commit.c \
	lib/ops/ingest-mpack.c \
	lib/ops/ingest-info.c \
	lib/ops/ingest-file.c \
	lib/ops/mark.c \
	lib/ops/mpack-drop.c \
	lib/ops/packset.c \
	lib/ops/remove.c \
	lib/ops/push.c \
	lib/ops/remote.c \
	lib/ops/remote-mpacks.c \
	lib/ops/remote-names.c \
	lib/ops/remote-packs.c \
	lib/ops/remote-write.c \
	lib/ops/seed.c \
	lib/ops/recompress.c \
	lib/ops/repack.c \
	lib/ops/repair.c \
	lib/ops/repair-manifests.c \
	lib/ops/repair-names.c \
	lib/ops/repair-packs.c \
	lib/ops/serverinfo.c \
	lib/ops/restore.c \
	lib/ops/restore-tree.c \
	lib/ops/restore-tree-files.c \
	lib/ops/restore-tree-links.c \
	lib/ops/restore-tree-collect.c \
	lib/ops/restore-tree-fds.c \
	lib/ops/restore-tree-meta.c \
	lib/ops/sketchset.c \
	lib/ops/stats.c \
	lib/ops/verify.c

CMD_SOURCES = \
	cmd/add.c \
	cmd/add-walk.c \
	cmd/add-xattrs.c \
	cmd/cat.c \
	cmd/common.c \
	cmd/diff.c \
	cmd/fsck.c \
	cmd/gc.c \
	cmd/hash.c \
	cmd/init.c \
	cmd/ls.c \
	cmd/mount.c \
	cmd/pull.c \
	cmd/push.c \
	cmd/repair.c \
	cmd/restore.c \
	cmd/rm.c \
	cmd/stats.c \
	cmd/umount.c \
	cmd/verify.c

FUSE_SOURCES = \
	fuse-view/cache.c \
	fuse-view/mount.c \
	fuse-view/ops.c \
	fuse-view/tree.c

# The test helper: a dispatcher and one file per subcommand (t/helper/test-tool.h).
TEST_TOOL_SOURCES = \
	t/helper/test-chunk.c \
	t/helper/test-gen-random.c \
	t/helper/test-gen-text.c \
	t/helper/test-ingest.c \
	t/helper/test-info.c \
	t/helper/test-limits.c \
	t/helper/test-lookup.c \
	t/helper/test-mpack.c \
	t/helper/test-namerefs.c \
	t/helper/test-pread.c \
	t/helper/test-ref-add.c \
	t/helper/test-rusage.c \
	t/helper/test-superchunk.c \
	t/helper/test-tool.c

UNIT_TESTS = \
	t/unit/test-cache-trim \
	t/unit/test-chunker \
	t/unit/test-cid \
	t/unit/test-csum-file \
	t/unit/test-exclude \
	t/unit/test-formats \
	t/unit/test-fsutil \
	t/unit/test-gc-plan \
	t/unit/test-info \
	t/unit/test-manifest \
	t/unit/test-midx \
	t/unit/test-mpack \
	t/unit/test-mountinfo \
	t/unit/test-names \
	t/unit/test-namerefs \
	t/unit/test-pack \
	t/unit/test-refs \
	t/unit/test-refs-rebuild \
	t/unit/test-sketch

# One libFuzzer target per parser of on-disk data (t/fuzz/fuzz-NAME.c).
FUZZ_TARGETS = \
	config \
	info \
	manifest \
	midx \
	mpack \
	name \
	namecheck \
	namerefs \
	object \
	pack \
	refs \
	sketch

LIB_OBJS = $(LIB_SOURCES:%.c=$(BUILD)/%.o)
CMD_OBJS = $(CMD_SOURCES:%.c=$(BUILD)/%.o) $(BUILD)/cdt.o
ifeq ($(HAVE_FUSE),1)
CMD_OBJS += $(FUSE_SOURCES:%.c=$(BUILD)/%.o)
endif
TEST_TOOL_OBJS = $(TEST_TOOL_SOURCES:%.c=$(BUILD)/%.o)
LIBCDT = $(BUILD)/libcdt.a

# The default build leaves ./cdt at the top; other builds keep it in their directory.
ifeq ($(BUILD),build)
CDT_BIN = cdt
else
CDT_BIN = $(BUILD)/cdt
endif

all: $(CDT_BIN) $(BUILD)/test-tool
.PHONY: all

# Objects depend on the flags they were built with: switching FUSE or
# DEFLATE rebuilds what it must (the file changes only when the flags do).
$(BUILD)/CFLAGS: FORCE
	@mkdir -p $(BUILD)
	@echo '$(ALL_CFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS)' > $@
.PHONY: FORCE

$(BUILD)/%.o: %.c $(wildcard lib/*/*.h cmd/*.h fuse-view/*.h t/fuzz/*.h t/helper/*.h t/unit/*.h) Makefile $(BUILD)/CFLAGS
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCDT): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(CDT_BIN): $(CMD_OBJS) $(LIBCDT)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJS) $(LIBCDT) $(LIBS)

$(BUILD)/test-tool: $(TEST_TOOL_OBJS) $(LIBCDT)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/t/unit/%: $(BUILD)/t/unit/%.o $(LIBCDT)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

UNIT_BINS = $(UNIT_TESTS:%=$(BUILD)/%)
.SECONDARY:

FUZZ_BINS = $(FUZZ_TARGETS:%=$(BUILD)/t/fuzz/fuzz-%)
$(FUZZ_BINS): $(BUILD)/t/fuzz/%: $(BUILD)/t/fuzz/%.o $(BUILD)/t/fuzz/common.o $(LIBCDT)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# Debian packages the build, the tests, the fuzzers and the benchmarks need.
DEB_PACKAGES = build-essential pkg-config zlib1g-dev libdeflate-dev libzstd-dev libssl-dev \
	       libfuse3-dev fuse3 bats python3 man-db strace cppcheck clang \
	       libclang-rt-14-dev nginx-light libcurl4-openssl-dev curl openssl \
	       ceph-mon ceph-osd radosgw

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		missing=; for p in $(DEB_PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "installing:$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	else \
		echo "run as root, or install: apt-get install $(DEB_PACKAGES)"; \
	fi
.PHONY: deps

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "  UNIT    $$t"; ./$$t || exit 1; done
.PHONY: unit

# A second binary with the other deflate implementation, to test that each
# reads what the other wrote.
ifeq ($(DEFLATE),zlib)
OTHER_DEFLATE = libdeflate
else
OTHER_DEFLATE = zlib
endif
OTHER_BUILD = $(BUILD)-$(OTHER_DEFLATE)
other-deflate:
	@$(MAKE) --no-print-directory BUILD=$(OTHER_BUILD) DEFLATE=$(OTHER_DEFLATE) $(OTHER_BUILD)/cdt
.PHONY: other-deflate

BATS ?= bats
# Kill points of the crash driver (t/7040); fewer under the sanitizers,
# where every command runs several times slower.
#
# The sanitizer run leaves out the tests that check something other than
# cdt's code: the test servers alone (t/*-harness.bats: nginx and Ceph
# driven by curl), the man pages and completion against --help (t/0010),
# and the peer-comparison script's table and exit codes (t/0012), whose
# cdt commands are the suite's own add and cat. They cost about 40 s there.
SANITIZE_SKIP = %-harness.bats t/0010-docs-manpages.bats t/0012-contrib-bench-peers.bats
ifeq ($(SANITIZE),1)
CRASH_KILLS ?= 40
TEST_FILES ?= $(filter-out $(SANITIZE_SKIP),$(sort $(wildcard t/*.bats)))
else
CRASH_KILLS ?= 120
TEST_FILES ?= $(sort $(wildcard t/*.bats))
endif
# TEST_SPLIT's points cut the test files into groups that run at once
# (t/run-suite.sh), chosen from per-test times (bats --timing) so that the
# longest group is shortest summed over `make test` and `make SANITIZE=1
# test` (431, 370, 472 s and 601, 601, 557 s); TEST_SPLIT= runs them one
# after the other.
TEST_SPLIT ?= t/12 t/4
test: deps
	@$(MAKE) --no-print-directory all unit other-deflate
	CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) \
	CDT_OTHER_DEFLATE=$(abspath $(OTHER_BUILD)/cdt) CDT_CRASH_KILLS=$(CRASH_KILLS) \
	BATS="$(BATS)" BATS_FLAGS="$(BATS_FLAGS)" \
	$(if $(TEST_SPLIT),sh t/run-suite.sh "$(TEST_SPLIT)",$(BATS) $(BATS_FLAGS)) $(TEST_FILES)
.PHONY: test

# Fuzzing: the targets are built with clang in build-fuzz (FUZZ=1), then each
# runs for FUZZ_SECONDS on a scratch copy of its seed corpus t/fuzz/corpus/NAME
# (see Documentation/technical/fuzzing.md). A crash fails the run and its
# input is kept under build-fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
fuzz-build: $(FUZZ_BINS)
.PHONY: fuzz-build

fuzz: deps
	@$(MAKE) --no-print-directory FUZZ=1 CC=$(FUZZ_CC) BUILD=build-fuzz fuzz-build
	@sh t/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
.PHONY: fuzz

demo: deps
	@$(MAKE) --no-print-directory all
	@CDT=$(abspath $(CDT_BIN)) sh contrib/demo.sh
.PHONY: demo

bench: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench.sh
	@$(MAKE) --no-print-directory bench-mount
	@$(MAKE) --no-print-directory bench-mount-peers
	@$(MAKE) --no-print-directory bench-integrity
	@$(MAKE) --no-print-directory bench-tree
	@$(MAKE) --no-print-directory bench-remote
	@$(MAKE) --no-print-directory bench-s3
	@if [ "$(BENCH_SCALE)" = 1 ]; then $(MAKE) --no-print-directory bench-scale; \
	else echo "bench-scale: skipped (long; BENCH_SCALE=1 or make bench-scale runs it)"; fi
.PHONY: bench

bench-mount: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench-mount.sh
.PHONY: bench-mount

bench-mount-peers: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench-mount-peers.sh
.PHONY: bench-mount-peers

bench-integrity: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench-integrity.sh
.PHONY: bench-integrity

bench-tree: all
	@CDT=$(abspath $(CDT_BIN)) sh t/perf/bench-tree.sh
.PHONY: bench-tree

bench-remote: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench-remote.sh
.PHONY: bench-remote

bench-s3: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) bash t/perf/bench-s3.sh
.PHONY: bench-s3
DATA ?= /tmp/cdtbench/data
DEFAULTS_SETS = --chunk-size,8K,--frame-size,0 --chunk-size,8K,--frame-size,256K \
	--chunk-size,8K,--frame-size,512K --chunk-size,16K,--frame-size,0 \
	--chunk-size,16K,--frame-size,256K --chunk-size,16K,--frame-size,512K \
	--chunk-size,32K,--frame-size,0 --chunk-size,32K,--frame-size,256K \
	--chunk-size,32K,--frame-size,512K --chunk-size,32K,--frame-size,1M \
	--level,1 --level,4 --level,5 --no-deltas
bench-defaults: all
	@CDT=$(abspath $(CDT_BIN)) sh t/perf/defaults.sh $(DATA) $(DEFAULTS_SETS)
.PHONY: bench-defaults
bench-scale: all
	@CDT=$(abspath $(CDT_BIN)) TEST_TOOL=$(abspath $(BUILD)/test-tool) sh t/perf/bench-scale.sh
.PHONY: bench-scale

# The include graph follows Documentation/technical/layout.md: layers only
# include downwards, and no module circles.
check-layers:
	@python3 t/lint/check-layers.py .
.PHONY: check-layers

# Static analysis: the include graph (check-layers), then cppcheck's
# warning, portability and performance checks.
CPPCHECK ?= cppcheck
lint:
	@python3 t/lint/check-layers.py .
	$(CPPCHECK) --quiet --enable=warning,portability,performance --std=c11 \
		--inline-suppr -I lib -DCDT_VERSION='"lint"' --error-exitcode=1 \
		cdt.c cmd lib fuse-view t/helper t/unit t/fuzz
.PHONY: lint

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(bashcompdir)
	install -m 755 $(CDT_BIN) $(DESTDIR)$(bindir)/cdt
	install -m 644 Documentation/*.1 $(DESTDIR)$(mandir)/man1/
	install -m 644 contrib/completion/cdt.bash $(DESTDIR)$(bashcompdir)/cdt
.PHONY: install

clean:
	rm -rf build build-* $(BUILD) cdt
.PHONY: clean
