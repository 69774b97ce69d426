/* Minimal assertions for the C tests: print where and why, then exit non-zero. */
#ifndef CLUSTRON_TEST_CHECK_H
#define CLUSTRON_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "clustron.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* The call must return `expected`; on failure prints the error message. */
#define CHECK_STATUS(expected, call)                                                       \
    do {                                                                                   \
        clustron_status got_ = (call);                                                     \
        if (got_ != (expected)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,    \
                    #call, clustron_status_name(got_), clustron_status_name(expected));   \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define OK(call) CHECK_STATUS(CLUSTRON_OK, call)

#define S(text) (text), (sizeof(text) - 1)

#endif
