/*
 * Clustron from C: keys, TTLs, counters, locks with fencing tokens, watches, transactions.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs clustron) -o quickstart && ./quickstart [store]
 *
 * The argument is a store name or a connection string (default: an in-process store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clustron.h"

/* Prints the error and exits when a call fails. */
static void must(clustron_status status, clustron_error *error, const char *what) {
    if (status != CLUSTRON_OK) {
        fprintf(stderr, "%s failed: %s: %s\n", what, clustron_status_name(status), clustron_error_message(error));
        clustron_error_free(error);
        exit(1);
    }
}

#define CALL(what, call)                                                                   \
    do {                                                                                   \
        clustron_error *error_ = NULL;                                                     \
        clustron_error **err = &error_;                                                    \
        must((call), error_, what);                                                        \
    } while (0)

int main(int argc, char **argv) {
    const char *target = argc > 1 ? argv[1] : "c-quickstart";
    clustron_store *store = NULL;
    CALL("open", clustron_store_open(target, &store, err));
    size_t len = 0;
    const char *name = clustron_store_name(store, &len);
    printf("opened store %.*s (libclustron %s)\n", (int)len, name, clustron_version());

    /* Put and get; values are bytes and may contain NUL. */
    clustron_put_result put;
    CALL("put", clustron_kv_put(store, "greeting", 8, (const uint8_t *)"hello", 5, NULL, &put, err));
    printf("put greeting at revision %llu\n", (unsigned long long)put.revision);
    clustron_entry *entry = NULL;
    CALL("get", clustron_kv_get(store, "greeting", 8, &entry, err));
    const uint8_t *value = clustron_entry_value(entry, &len);
    printf("get greeting -> %.*s (version %llu)\n", (int)len, (const char *)value,
           (unsigned long long)clustron_entry_version(entry));
    clustron_entry_free(entry);

    /* A key with a TTL. */
    clustron_put_options ttl;
    memset(&ttl, 0, sizeof ttl);
    ttl.flags = CLUSTRON_PUT_TTL;
    ttl.ttl_ms = 30000;
    CALL("put with ttl", clustron_kv_put(store, "session/42", 10, (const uint8_t *)"alice", 5, &ttl, NULL, err));
    clustron_ttl left;
    CALL("ttl", clustron_kv_ttl(store, "session/42", 10, &left, err));
    printf("session/42 expires in %llu ms\n", (unsigned long long)left.remaining_ms);

    /* A rate limit: at most 3 per minute. */
    clustron_counter_options limit = {CLUSTRON_COUNTER_MAX | CLUSTRON_COUNTER_TTL, 0, 3, 60000};
    for (int request = 1; request <= 4; request++) {
        clustron_counter_result hit;
        CALL("counter add", clustron_counter_add(store, "rate/alice", 10, 1, &limit, &hit, err));
        printf("request %d: %s\n", request, hit.applied ? "allowed" : "rate limited");
    }

    /* A lock with a fencing token; a write guarded by it lands only while it is held. */
    clustron_lock_options lock_options = {CLUSTRON_LOCK_TTL, 10000, 0, 0};
    clustron_lock *lock = NULL;
    CALL("lock", clustron_lock_acquire(store, "jobs/nightly", 12, &lock_options, &lock, err));
    printf("acquired jobs/nightly with fencing token %llu\n", (unsigned long long)clustron_lock_fence(lock));
    clustron_put_options guarded;
    memset(&guarded, 0, sizeof guarded);
    guarded.flags = CLUSTRON_PUT_GUARD;
    guarded.guard_lock = "jobs/nightly";
    guarded.guard_lock_len = 12;
    guarded.guard_fence = clustron_lock_fence(lock);
    CALL("guarded put", clustron_kv_put(store, "jobs/nightly/status", 19, (const uint8_t *)"running", 7, &guarded, NULL, err));
    bool released = false;
    CALL("release", clustron_lock_release(lock, &released, err));
    clustron_lock_free(lock);

    /* A watch: pull events with a timeout. */
    clustron_watch *watch = NULL;
    clustron_range prefix = {CLUSTRON_RANGE_PREFIX, "config/", 7, NULL, 0, false};
    CALL("watch", clustron_watch_range(store, &prefix, NULL, &watch, err));
    CALL("put", clustron_kv_put(store, "config/color", 12, (const uint8_t *)"blue", 4, NULL, NULL, err));
    clustron_event *event = NULL;
    CALL("next", clustron_watch_next(watch, 1000, &event, err));
    const char *key = clustron_entry_key(clustron_event_entry(event), &len);
    printf("watch saw %s of %.*s at revision %llu\n", clustron_event_kind(event) == CLUSTRON_EVENT_PUT ? "put" : "delete",
           (int)len, key, (unsigned long long)clustron_event_revision(event));
    clustron_event_free(event);
    clustron_watch_free(watch);

    /* An optimistic transaction. */
    clustron_txn *txn = NULL;
    uint64_t revision = 0;
    CALL("begin", clustron_txn_begin(store, &txn, err));
    CALL("txn put", clustron_txn_put(txn, "accounts/a", 10, (const uint8_t *)"70", 2, NULL, err));
    CALL("txn put", clustron_txn_put(txn, "accounts/b", 10, (const uint8_t *)"30", 2, NULL, err));
    CALL("commit", clustron_txn_commit(txn, &revision, err));
    clustron_txn_free(txn);
    printf("transaction committed at revision %llu\n", (unsigned long long)revision);

    clustron_store_stats stats;
    CALL("status", clustron_store_status(store, &stats, err));
    printf("store at revision %llu with %llu keys\n", (unsigned long long)stats.revision, (unsigned long long)stats.keys);
    clustron_store_free(store);
    return 0;
}
