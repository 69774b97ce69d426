/*
 * One store from 8 C threads at once: counter totals are exact, a lock is never held by two
 * threads, every guarded write lands, fencing tokens increase in grant order.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define ADDS 2000
#define ROUNDS 100

static clustron_store *store;
/* Guarded by `mutex`: how many threads believe they hold the lock, and the last fence seen. */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int holders;
static uint64_t last_fence;

static void enter(uint64_t fence) {
    pthread_mutex_lock(&mutex);
    CHECK(holders == 0);
    CHECK(fence > last_fence);
    holders = 1;
    last_fence = fence;
    pthread_mutex_unlock(&mutex);
}

static void leave(void) {
    pthread_mutex_lock(&mutex);
    holders = 0;
    pthread_mutex_unlock(&mutex);
}

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < ADDS; i++) {
        clustron_counter_result result;
        OK(clustron_counter_add(store, S("total"), 1, NULL, &result, NULL));
        CHECK(result.applied);
    }
    clustron_lock_options options = {CLUSTRON_LOCK_TTL | CLUSTRON_LOCK_WAIT, 30000, 0, 60000};
    for (int round = 0; round < ROUNDS; round++) {
        clustron_lock *lock = NULL;
        OK(clustron_lock_acquire(store, S("critical"), &options, &lock, NULL));
        CHECK(lock != NULL);
        uint64_t fence = clustron_lock_fence(lock);
        enter(fence);
        clustron_put_options guarded;
        memset(&guarded, 0, sizeof guarded);
        guarded.flags = CLUSTRON_PUT_GUARD;
        guarded.guard_lock = "critical";
        guarded.guard_lock_len = 8;
        guarded.guard_fence = fence;
        OK(clustron_kv_put(store, S("owner"), (const uint8_t *)"me", 2, &guarded, NULL, NULL));
        leave();
        bool released = false;
        OK(clustron_lock_release(lock, &released, NULL));
        CHECK(released);
        clustron_lock_free(lock);
    }
    return NULL;
}

int main(void) {
    OK(clustron_store_open("c-test-threads", &store, NULL));
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&threads[i], NULL, worker, NULL) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
    }
    int64_t total = 0;
    OK(clustron_counter_get(store, S("total"), &total, NULL));
    CHECK(total == THREADS * ADDS);
    clustron_entry *owner = NULL;
    OK(clustron_kv_get(store, S("owner"), &owner, NULL));
    CHECK(clustron_entry_version(owner) == THREADS * ROUNDS);
    clustron_entry_free(owner);
    clustron_store_free(store);
    puts("test_threads: ok");
    return 0;
}
