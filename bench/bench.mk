# Benchmark programs: bench/NAME.c -> $(BUILD)/bench/NAME, built with the
# project's flags. Use with the main Makefile:
#   make -f Makefile -f bench/bench.mk build/bench/crl_bench
$(BUILD)/bench/%: bench/%.c $(BUILD)/libcertmint.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libcertmint.a $(LDFLAGS) $(LDLIBS)
