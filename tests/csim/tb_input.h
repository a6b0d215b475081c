// Reading the expectations a stage testbench is given (tests/test_hls_stages.py writes them as text), and
// counting its checks. `where` says what is being checked, for the failure lines.
#ifndef TB_INPUT_H
#define TB_INPUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE* in;
static long n_checks = 0, n_fail = 0;
static char where[160];

static long long num() {
    long long v;
    if (fscanf(in, "%lld", &v) != 1) {
        printf("FAIL input: expected a number after %s\n", where);
        exit(2);
    }
    return v;
}

// The last line of a testbench: "PASS checks=N" and 0, or "FAILED F of N checks" and 1.
static int tb_finish() {
    if (n_fail) {
        printf("FAILED %ld of %ld checks\n", n_fail, n_checks);
        return 1;
    }
    printf("PASS checks=%ld\n", n_checks);
    return 0;
}

static void word(const char* w) {
    char buf[32] = "";
    if (fscanf(in, "%31s", buf) != 1 || strcmp(buf, w)) {
        printf("FAIL input: expected '%s', got '%s' after %s\n", w, buf, where);
        exit(2);
    }
}

#endif
