/*
 * A lock-protected job runner: worker threads compete for jobs; a worker runs a job only
 * while it holds the job's lock, and records the result with a write guarded by the lock's
 * fencing token, so a worker whose lock expired cannot overwrite a newer result.
 *
 *   cc job_runner.c $(pkg-config --cflags --libs clustron) -lpthread -o job_runner && ./job_runner
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clustron.h"

#define WORKERS 4
#define JOBS 20

static clustron_store *store;

static void must(clustron_status status, const char *what) {
    if (status != CLUSTRON_OK) {
        fprintf(stderr, "%s failed: %s\n", what, clustron_status_name(status));
        exit(1);
    }
}

static void *worker(void *arg) {
    int id = *(const int *)arg;
    for (int job = 0; job < JOBS; job++) {
        char lock_name[32], done_key[32], result[32];
        int lock_len = snprintf(lock_name, sizeof lock_name, "jobs/%02d/lock", job);
        int done_len = snprintf(done_key, sizeof done_key, "jobs/%02d/done", job);
        /* Skip jobs someone already finished. */
        clustron_entry *done = NULL;
        must(clustron_kv_get(store, done_key, (size_t)done_len, &done, NULL), "get");
        if (done != NULL) {
            clustron_entry_free(done);
            continue;
        }
        /* Try to take the job; if another worker holds it, move on. */
        clustron_lock_options options = {CLUSTRON_LOCK_TTL, 5000, 0, 0};
        clustron_lock *lock = NULL;
        must(clustron_lock_acquire(store, lock_name, (size_t)lock_len, &options, &lock, NULL), "acquire");
        if (lock == NULL) {
            continue;
        }
        /* Only mark the job done if nobody did meanwhile (if_version 0 = key absent). */
        int result_len = snprintf(result, sizeof result, "worker-%d", id);
        clustron_put_options guarded;
        memset(&guarded, 0, sizeof guarded);
        guarded.flags = CLUSTRON_PUT_GUARD | CLUSTRON_PUT_IF_VERSION;
        guarded.guard_lock = lock_name;
        guarded.guard_lock_len = (size_t)lock_len;
        guarded.guard_fence = clustron_lock_fence(lock);
        guarded.if_version = 0;
        clustron_put_result put;
        must(clustron_kv_put(store, done_key, (size_t)done_len, (const uint8_t *)result, (size_t)result_len, &guarded, &put, NULL), "put");
        if (put.changed) {
            clustron_counter_result total;
            must(clustron_counter_add(store, "jobs/completed", 14, 1, NULL, &total, NULL), "count");
        }
        must(clustron_lock_release(lock, NULL, NULL), "release");
        clustron_lock_free(lock);
    }
    return NULL;
}

int main(void) {
    must(clustron_store_open("c-job-runner", &store, NULL), "open");
    pthread_t threads[WORKERS];
    int ids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        ids[i] = i + 1;
        if (pthread_create(&threads[i], NULL, worker, &ids[i]) != 0) {
            return 1;
        }
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
    }
    int64_t completed = 0;
    must(clustron_counter_get(store, "jobs/completed", 14, &completed, NULL), "get count");
    printf("%lld of %d jobs completed, each exactly once\n", (long long)completed, JOBS);
    clustron_store_free(store);
    return completed == JOBS ? 0 : 1;
}
