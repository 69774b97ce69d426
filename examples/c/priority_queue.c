/*
 * A priority job queue on search: a worker claims the highest-priority pending job with a
 * search, a compare-and-swap on the job's version (so two workers never claim the same
 * job), and a claim key on the worker's lease (so a worker that dies gives its claims back).
 *
 *   cc priority_queue.c $(pkg-config --cflags --libs clustron) -o priority_queue
 *   ./priority_queue [store name or connection string]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clustron.h"

static const int PRIORITIES[] = {3, 9, 1, 7, 5, 9, 2};
#define JOBS (sizeof PRIORITIES / sizeof PRIORITIES[0])

static void must(clustron_status status, clustron_error *error, const char *what) {
    if (status != CLUSTRON_OK) {
        fprintf(stderr, "%s failed: %s\n", what, error ? clustron_error_message(error) : clustron_status_name(status));
        exit(1);
    }
}

/* Writes a job with its status and priority; with `if_version` set, only at that version. */
static bool put_job(clustron_store *store, const char *key, size_t key_len, const char *status, const char *priority,
                    size_t priority_len, uint64_t if_version) {
    clustron_label labels[] = {{"status", 6, status, strlen(status), true}, {"priority", 8, priority, priority_len, true}};
    clustron_put_options options;
    memset(&options, 0, sizeof options);
    options.flags = CLUSTRON_PUT_ENTITY | CLUSTRON_PUT_LABELS | (if_version ? CLUSTRON_PUT_IF_VERSION : 0);
    options.entity = "job";
    options.entity_len = 3;
    options.labels = labels;
    options.labels_len = 2;
    options.if_version = if_version;
    clustron_put_result result;
    clustron_error *error = NULL;
    must(clustron_kv_put(store, key, key_len, (const uint8_t *)"payload", 7, &options, &result, &error), error, "put");
    return result.changed;
}

/* Claims the highest-priority pending job into `key` (NUL-terminated); false when none is left. */
static bool claim(clustron_store *store, uint64_t lease, char *key, size_t key_size) {
    const char *order_by[] = {"-priority"};
    clustron_search search;
    memset(&search, 0, sizeof search);
    search.entity = "job";
    search.entity_len = 3;
    search.clause = "status = pending";
    search.clause_len = strlen(search.clause);
    search.order_by = order_by;
    search.order_by_count = 1;
    search.limit = 1;
    for (;;) {
        clustron_entries *page = NULL;
        clustron_error *error = NULL;
        must(clustron_kv_search(store, &search, &page, &error), error, "search");
        if (clustron_entries_len(page) == 0) {
            clustron_entries_free(page);
            return false;
        }
        const clustron_entry *job = clustron_entries_at(page, 0);
        size_t len = 0;
        const char *found = clustron_entry_key(job, &len);
        snprintf(key, key_size, "%.*s", (int)len, found);
        clustron_label priority;
        memset(&priority, 0, sizeof priority);
        for (size_t i = 0; i < clustron_entry_labels_len(job); i++) {
            clustron_label label;
            if (clustron_entry_label(job, i, &label) && label.name_len == 8 && memcmp(label.name, "priority", 8) == 0) {
                priority = label;
            }
        }
        /* Only if nobody changed the job since the search read it. */
        bool claimed = put_job(store, key, len, "running", priority.value, priority.value_len, clustron_entry_version(job));
        clustron_entries_free(page);
        if (claimed) {
            char claim_key[64];
            int n = snprintf(claim_key, sizeof claim_key, "claims/%s", key);
            clustron_put_options options;
            memset(&options, 0, sizeof options);
            options.flags = CLUSTRON_PUT_LEASE;
            options.lease = lease;
            must(clustron_kv_put(store, claim_key, (size_t)n, (const uint8_t *)"worker-a", 8, &options, NULL, &error), error,
                 "claim");
            return true;
        }
        /* Another worker claimed it first: search again. */
    }
}

int main(int argc, char **argv) {
    const char *target = argc > 1 ? argv[1] : "c-priority-queue";
    clustron_store *store = NULL;
    clustron_error *error = NULL;
    must(clustron_store_open(target, &store, &error), error, "open");
    clustron_range jobs = {CLUSTRON_RANGE_PREFIX, "job/", 4, NULL, 0, false};
    clustron_range claims = {CLUSTRON_RANGE_PREFIX, "claims/", 7, NULL, 0, false};
    must(clustron_kv_clear(store, &jobs, NULL, NULL, &error), error, "clear");
    must(clustron_kv_clear(store, &claims, NULL, NULL, &error), error, "clear");
    for (size_t i = 0; i < JOBS; i++) {
        char key[16], priority[8];
        int n = snprintf(key, sizeof key, "job/%zu", i);
        int p = snprintf(priority, sizeof priority, "%d", PRIORITIES[i]);
        put_job(store, key, (size_t)n, "pending", priority, (size_t)p, 0);
    }
    clustron_lease_info lease;
    must(clustron_lease_grant(store, 30000, &lease, &error), error, "lease");

    /* Highest priority first, ties by key. */
    const char *expected[] = {"job/1", "job/5", "job/3", "job/4", "job/0", "job/6", "job/2"};
    char key[32];
    size_t claimed = 0;
    printf("claimed by priority:");
    while (claim(store, lease.id, key, sizeof key)) {
        if (claimed >= JOBS || strcmp(key, expected[claimed]) != 0) {
            fprintf(stderr, "\nclaimed %s, expected %s\n", key, claimed < JOBS ? expected[claimed] : "nothing");
            return 1;
        }
        printf(" %s", key);
        char priority[8];
        int p = snprintf(priority, sizeof priority, "%d", PRIORITIES[atoi(key + 4)]);
        put_job(store, key, strlen(key), "done", priority, (size_t)p, 0);
        claimed++;
    }
    printf("\n");
    if (claimed != JOBS) {
        fprintf(stderr, "claimed %zu of %zu jobs\n", claimed, (size_t)JOBS);
        return 1;
    }
    /* The worker goes away: its lease ends and its claims with it. */
    uint64_t left = 0;
    must(clustron_lease_revoke(store, lease.id, NULL, &error), error, "revoke");
    must(clustron_kv_count(store, &claims, &left, &error), error, "count");
    if (left != 0) {
        fprintf(stderr, "%llu claims outlived the lease\n", (unsigned long long)left);
        return 1;
    }
    printf("the worker's claims ended with its lease\n");
    clustron_store_free(store);
    return 0;
}
