/*
 * The C ABI from C: every call's contract, bad input (NULL handles and pointers, zero and
 * huge lengths, invalid UTF-8, unknown flags), ownership (run under valgrind: zero leaks),
 * use after close, double cancel, backups.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static clustron_store *open_store(const char *name) {
    clustron_store *store = NULL;
    char config[256];
    snprintf(config, sizeof config, "clustron://inproc/%s?clock=manual", name);
    OK(clustron_store_open_with(name, config, &store, NULL));
    CHECK(store != NULL);
    return store;
}

static void errors_carry_code_and_message(void) {
    clustron_error *error = NULL;
    clustron_store *store = NULL;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_open("clustron://inproc", &store, &error));
    CHECK(store == NULL); /* out-parameters are written only on success */
    CHECK(clustron_error_code(error) == CLUSTRON_INVALID_INPUT);
    CHECK(strstr(clustron_error_message(error), "store name is missing") != NULL);
    clustron_error_free(error);
    clustron_error_free(NULL);
    CHECK(strcmp(clustron_status_name(CLUSTRON_LOCKED), "locked") == 0);
    CHECK(strcmp(clustron_status_name(99), "unknown") == 0);
    CHECK(strlen(clustron_version()) > 0);

    error = NULL;
    CHECK_STATUS(CLUSTRON_UNAVAILABLE, clustron_store_open("clustron://127.0.0.1:1/orders", &store, &error));
    CHECK(strstr(clustron_error_message(error), "cannot reach the cluster") != NULL);
    clustron_error_free(error);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_open_with("x", "{\"Mode\": \"Sideways\"}", &store, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_open(NULL, &store, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_open("c-test-null-out", NULL, NULL));
}

static void null_handles_and_pointers_are_refused(void) {
    clustron_store *store = open_store("c-test-nulls");
    clustron_entry *entry = NULL;
    uint64_t count = 0;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(NULL, S("k"), (const uint8_t *)"v", 1, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get(store, S("k"), NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get(store, NULL, 5, &entry, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, S("k"), NULL, 3, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_count(store, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_many(store, NULL, 2, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_close(NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_lock_renew(NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_watch_cancel(NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_txn_rollback(NULL));
    /* Accessors and frees accept NULL. */
    CHECK(clustron_entry_key(NULL, NULL) == NULL);
    CHECK(clustron_entry_version(NULL) == 0);
    CHECK(clustron_entries_len(NULL) == 0);
    CHECK(clustron_results_len(NULL) == 0);
    CHECK(clustron_session_is_lost(NULL));
    clustron_entry_free(NULL);
    clustron_entries_free(NULL);
    clustron_results_free(NULL);
    clustron_keys_free(NULL);
    clustron_leases_free(NULL);
    clustron_lock_free(NULL);
    clustron_session_free(NULL);
    clustron_watch_free(NULL);
    clustron_event_free(NULL);
    clustron_txn_free(NULL);
    clustron_store_free(NULL);
    OK(clustron_kv_count(store, NULL, &count, NULL));
    CHECK(count == 0);
    clustron_store_free(store);
}

static void bad_lengths_utf8_flags_and_ttls_are_invalid_input(void) {
    clustron_store *store = open_store("c-test-bad-input");
    clustron_error *error = NULL;
    clustron_entry *entry = NULL;
    const uint8_t bad_utf8[] = {'a', 0xff, 'b'};
    char long_key[4097];
    memset(long_key, 'k', sizeof long_key);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, "", 0, (const uint8_t *)"v", 1, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, long_key, sizeof long_key, (const uint8_t *)"v", 1, NULL, NULL, &error));
    CHECK(strstr(clustron_error_message(error), "4097 bytes") != NULL);
    clustron_error_free(error);
    /* An absurd length is refused before any memory is read. */
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get(store, "k", SIZE_MAX, &entry, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, S("k"), (const uint8_t *)"v", SIZE_MAX, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get(store, (const char *)bad_utf8, sizeof bad_utf8, &entry, NULL));

    clustron_put_options options;
    memset(&options, 0, sizeof options);
    options.flags = 1u << 30;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, S("k"), (const uint8_t *)"v", 1, &options, NULL, NULL));
    options.flags = CLUSTRON_PUT_TTL;
    options.ttl_ms = 0;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, S("k"), (const uint8_t *)"v", 1, &options, NULL, NULL));
    options.ttl_ms = -5;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_put(store, S("k"), (const uint8_t *)"v", 1, &options, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_expire(store, S("k"), -1, NULL, NULL));
    clustron_lease_info lease;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_lease_grant(store, 0, &lease, NULL));

    clustron_range range = {99, "", 0, NULL, 0, false};
    uint64_t count = 0;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_count(store, &range, &count, NULL));
    clustron_op op = {42, S("k"), NULL, 0, NULL, NULL};
    clustron_results *results = NULL;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_batch(store, &op, 1, &results, NULL));
    CHECK(results == NULL);
    clustron_lock_options lock_options = {1u << 20, 0, 0, 0};
    clustron_lock *lock = NULL;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_lock_acquire(store, S("l"), &lock_options, &lock, NULL));
    memset(&options, 0, sizeof options);
    options.flags = CLUSTRON_PUT_LEASE;
    options.lease = 777;
    CHECK_STATUS(CLUSTRON_LEASE_NOT_FOUND, clustron_kv_put(store, S("k"), (const uint8_t *)"v", 1, &options, NULL, NULL));
    clustron_store_free(store);
}

static void values_with_nul_bytes_and_entries_round_trip(void) {
    clustron_store *store = open_store("c-test-values");
    const uint8_t value[] = {0, 1, 0, 255, 0};
    clustron_put_result put;
    clustron_label labels[] = {{S("status"), S("open"), true}};
    clustron_put_options options;
    memset(&options, 0, sizeof options);
    options.flags = CLUSTRON_PUT_CONTENT_TYPE | CLUSTRON_PUT_LABELS | CLUSTRON_PUT_TTL;
    options.content_type = "application/octet-stream";
    options.content_type_len = strlen(options.content_type);
    options.labels = labels;
    options.labels_len = 1;
    options.ttl_ms = 5000;
    OK(clustron_kv_put(store, S("bin"), value, sizeof value, &options, &put, NULL));
    CHECK(put.created && put.changed && put.version == 1);

    clustron_entry *entry = NULL;
    size_t len = 0;
    OK(clustron_kv_get(store, S("bin"), &entry, NULL));
    CHECK(entry != NULL);
    const uint8_t *bytes = clustron_entry_value(entry, &len);
    CHECK(len == sizeof value && memcmp(bytes, value, len) == 0);
    const char *key = clustron_entry_key(entry, &len);
    CHECK(len == 3 && memcmp(key, "bin", 3) == 0);
    CHECK(clustron_entry_expires_at_ms(entry) > 0);
    CHECK(clustron_entry_labels_len(entry) == 1);
    clustron_label label;
    CHECK(clustron_entry_label(entry, 0, &label));
    CHECK(label.name_len == 6 && memcmp(label.value, "open", 4) == 0 && label.indexed);
    CHECK(!clustron_entry_label(entry, 1, &label));
    clustron_entry_free(entry);

    OK(clustron_kv_get(store, S("missing"), &entry, NULL));
    CHECK(entry == NULL); /* a missing key is not an error */
    OK(clustron_store_advance_clock(store, 5000, NULL));
    OK(clustron_kv_get(store, S("bin"), &entry, NULL));
    CHECK(entry == NULL);
    clustron_store_free(store);
}

static void gets_copy_into_the_callers_buffer(void) {
    clustron_store *store = open_store("c-test-get-into");
    const uint8_t value[] = {'a', 0, 'b', 0, 'c'};
    OK(clustron_kv_put(store, S("k1"), value, sizeof value, NULL, NULL, NULL));
    OK(clustron_kv_put(store, S("k1"), value, sizeof value, NULL, NULL, NULL));
    OK(clustron_kv_put(store, S("empty"), NULL, 0, NULL, NULL, NULL));
    OK(clustron_kv_put(store, S("k3"), (const uint8_t *)"xyz", 3, NULL, NULL, NULL));

    uint8_t buf[16];
    bool found = false;
    size_t len = 99;
    uint64_t version = 0;
    memset(buf, 0xee, sizeof buf);
    OK(clustron_kv_get_into(store, S("k1"), buf, sizeof buf, &found, &len, &version, NULL));
    CHECK(found && len == sizeof value && version == 2 && memcmp(buf, value, len) == 0);
    CHECK(buf[len] == 0xee); /* nothing written past the value */
    /* Too small: the length, and nothing copied. */
    memset(buf, 0xee, sizeof buf);
    OK(clustron_kv_get_into(store, S("k1"), buf, 4, &found, &len, NULL, NULL));
    CHECK(found && len == sizeof value && buf[0] == 0xee);
    /* No buffer at all: the length only. */
    OK(clustron_kv_get_into(store, S("k1"), NULL, 0, &found, &len, NULL, NULL));
    CHECK(found && len == sizeof value);
    OK(clustron_kv_get_into(store, S("empty"), NULL, 0, &found, &len, &version, NULL));
    CHECK(found && len == 0 && version == 1);
    OK(clustron_kv_get_into(store, S("missing"), buf, sizeof buf, &found, &len, &version, NULL));
    CHECK(!found && len == 0 && version == 0);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_into(store, S("k1"), NULL, 8, &found, &len, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_into(store, S("k1"), buf, 8, NULL, &len, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_into(store, S("k1"), buf, 8, &found, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_into(store, "k1", 0, buf, 8, &found, &len, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_into(NULL, S("k1"), buf, 8, &found, &len, NULL, NULL));

    /* Many keys at one revision, packed in order. */
    clustron_key keys[] = {{S("k1")}, {S("missing")}, {S("empty")}, {S("k3")}};
    clustron_value_slot slots[4];
    size_t needed = 0;
    memset(buf, 0xee, sizeof buf);
    OK(clustron_kv_get_many_into(store, keys, 4, buf, sizeof buf, slots, &needed, NULL));
    CHECK(needed == 8);
    CHECK(slots[0].found && slots[0].len == 5 && slots[0].offset == 0 && slots[0].version == 2);
    CHECK(memcmp(buf + slots[0].offset, value, 5) == 0);
    CHECK(!slots[1].found && slots[1].len == 0 && slots[1].version == 0);
    CHECK(slots[2].found && slots[2].len == 0 && slots[2].offset == 5);
    CHECK(slots[3].found && slots[3].len == 3 && slots[3].offset == 5 && memcmp(buf + 5, "xyz", 3) == 0);
    /* Room for the first value only (and the empty one): the last is found but not copied. */
    OK(clustron_kv_get_many_into(store, keys, 4, buf, 6, slots, &needed, NULL));
    CHECK(needed == 8 && slots[0].offset == 0 && slots[2].found && slots[2].offset == 5);
    CHECK(slots[3].found && slots[3].offset == SIZE_MAX && slots[3].len == 3);
    /* Once one does not fit, no later value is copied, even one that would. */
    clustron_key reversed[] = {{S("k3")}, {S("k1")}, {S("empty")}};
    OK(clustron_kv_get_many_into(store, reversed, 3, buf, 4, slots, &needed, NULL));
    CHECK(slots[0].offset == 0 && slots[1].offset == SIZE_MAX && slots[2].offset == SIZE_MAX);
    OK(clustron_kv_get_many_into(store, NULL, 0, NULL, 0, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_many_into(store, keys, 4, buf, sizeof buf, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_many_into(store, NULL, 4, buf, sizeof buf, slots, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_get_many_into(store, keys, 4, NULL, 8, slots, NULL, NULL));
    clustron_store_free(store);
}

static void scans_page_through_every_key(void) {
    clustron_store *store = open_store("c-test-scan");
    char key[16];
    for (int i = 0; i < 25; i++) {
        int n = snprintf(key, sizeof key, "p/%02d", i);
        OK(clustron_kv_put(store, key, (size_t)n, (const uint8_t *)"x", 1, NULL, NULL, NULL));
    }
    clustron_range prefix = {CLUSTRON_RANGE_PREFIX, S("p/"), NULL, 0, false};
    char after[16] = "";
    size_t after_len = 0;
    int seen = 0;
    for (;;) {
        clustron_entries *page = NULL;
        OK(clustron_kv_scan(store, &prefix, after_len ? after : NULL, after_len, 10, &page, NULL));
        seen += (int)clustron_entries_len(page);
        size_t len = 0;
        const char *next = clustron_entries_next(page, &len);
        if (next == NULL) {
            clustron_entries_free(page);
            break;
        }
        memcpy(after, next, len);
        after_len = len;
        clustron_entries_free(page);
    }
    CHECK(seen == 25);
    clustron_store_free(store);
}

static void searches_page_by_label_and_count(void) {
    clustron_store *store = open_store("c-test-search");
    char key[16], priority[8];
    for (int i = 0; i < 12; i++) {
        int n = snprintf(key, sizeof key, "job/%02d", i);
        int p = snprintf(priority, sizeof priority, "%d", i % 4);
        clustron_label labels[] = {{S("status"), i % 2 ? "pending" : "done", (size_t)(i % 2 ? 7 : 4), true},
                                   {S("priority"), priority, (size_t)p, true}};
        clustron_put_options options;
        memset(&options, 0, sizeof options);
        options.flags = CLUSTRON_PUT_ENTITY | CLUSTRON_PUT_LABELS;
        options.entity = "job";
        options.entity_len = 3;
        options.labels = labels;
        options.labels_len = 2;
        OK(clustron_kv_put(store, key, (size_t)n, (const uint8_t *)"x", 1, &options, NULL, NULL));
    }
    /* Pending jobs, highest priority first, 2 per page: job/03 job/07 job/11 (3), job/01 job/05 job/09 (1). */
    const char *order_by[] = {"-priority"};
    clustron_search search;
    memset(&search, 0, sizeof search);
    search.entity = "job";
    search.entity_len = 3;
    search.clause = "status = pending";
    search.clause_len = strlen(search.clause);
    search.order_by = order_by;
    search.order_by_count = 1;
    search.limit = 2;
    const char *expected[] = {"job/03", "job/07", "job/11", "job/01", "job/05", "job/09"};
    char after[512];
    int seen = 0;
    for (;;) {
        clustron_entries *page = NULL;
        OK(clustron_kv_search(store, &search, &page, NULL));
        for (size_t i = 0; i < clustron_entries_len(page); i++) {
            size_t len = 0;
            const char *found = clustron_entry_key(clustron_entries_at(page, i), &len);
            CHECK(seen < 6 && len == 6 && memcmp(found, expected[seen], 6) == 0);
            seen++;
        }
        size_t len = 0;
        const char *next = clustron_entries_next(page, &len);
        if (next == NULL) {
            clustron_entries_free(page);
            break;
        }
        CHECK(len < sizeof after);
        memcpy(after, next, len);
        search.after = after;
        search.after_len = len;
        clustron_entries_free(page);
    }
    CHECK(seen == 6);
    /* A live query of the same jobs: a snapshot of 6 enters, then a job that leaves. */
    clustron_watch *watch = NULL;
    clustron_watch_options snapshot = {CLUSTRON_WATCH_SNAPSHOT, 0};
    search.after = NULL;
    search.after_len = 0;
    OK(clustron_watch_search(store, &search, &snapshot, &watch, NULL));
    for (int i = 0; i < 6; i++) {
        clustron_event *event = NULL;
        OK(clustron_watch_next(watch, 1000, &event, NULL));
        CHECK(event != NULL && clustron_event_query_change(event) == CLUSTRON_QUERY_ENTER);
        clustron_event_free(event);
    }
    OK(clustron_kv_delete(store, S("job/01"), NULL, NULL, NULL));
    clustron_event *left = NULL;
    OK(clustron_watch_next(watch, 1000, &left, NULL));
    CHECK(left != NULL && clustron_event_query_change(left) == CLUSTRON_QUERY_LEAVE);
    CHECK(clustron_event_query_change(NULL) == CLUSTRON_QUERY_NONE);
    clustron_event_free(left);
    clustron_watch_free(watch);
    uint64_t count = 0;
    search.after = NULL;
    search.after_len = 0;
    OK(clustron_kv_search_count(store, &search, &count, NULL));
    CHECK(count == 5);
    /* Bad input: a malformed clause, unknown flags, a NULL search, a NULL out. */
    clustron_error *error = NULL;
    search.clause = "status =";
    search.clause_len = strlen(search.clause);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_search_count(store, &search, &count, &error));
    CHECK(strstr(clustron_error_message(error), "column 9") != NULL);
    clustron_error_free(error);
    search.clause = NULL;
    search.clause_len = 0;
    search.flags = 1u << 7;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_search_count(store, &search, &count, NULL));
    search.flags = 0;
    search.order_by = NULL; /* a count of 1 with no array */
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_search_count(store, &search, &count, NULL));
    clustron_entries *page = NULL;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_search(store, NULL, &page, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_kv_search(store, &search, NULL, NULL));
    clustron_store_free(store);
}

static void use_after_close_and_double_cancel_are_reported(void) {
    clustron_store *store = open_store("c-test-close");
    clustron_watch *watch = NULL;
    clustron_event *event = NULL;
    clustron_error *error = NULL;
    OK(clustron_watch_key(store, S("k"), NULL, &watch, NULL));
    OK(clustron_watch_next(watch, 0, &event, NULL));
    CHECK(event == NULL); /* nothing yet: a timeout is OK with no event */
    OK(clustron_watch_cancel(watch));
    CHECK_STATUS(CLUSTRON_CLOSED, clustron_watch_cancel(watch));
    CHECK_STATUS(CLUSTRON_CLOSED, clustron_watch_next(watch, 0, &event, NULL));
    clustron_watch_free(watch);

    OK(clustron_watch_key(store, S("k"), NULL, &watch, NULL));
    OK(clustron_store_close(store));
    OK(clustron_store_close(store)); /* closing twice is harmless */
    CHECK_STATUS(CLUSTRON_CLOSED, clustron_kv_put(store, S("k"), (const uint8_t *)"v", 1, NULL, NULL, &error));
    CHECK(strstr(clustron_error_message(error), "closed") != NULL);
    clustron_error_free(error);
    CHECK_STATUS(CLUSTRON_CLOSED, clustron_watch_next(watch, 1000, &event, NULL));
    clustron_watch_free(watch);
    clustron_store_free(store);
}

static void transactions_conflict_and_commit(void) {
    clustron_store *store = open_store("c-test-txn");
    clustron_txn *txn = NULL;
    clustron_entry *entry = NULL;
    uint64_t revision = 0;
    OK(clustron_kv_put(store, S("x"), (const uint8_t *)"1", 1, NULL, NULL, NULL));
    OK(clustron_txn_begin(store, &txn, NULL));
    OK(clustron_txn_get(txn, S("x"), &entry, NULL));
    clustron_entry_free(entry);
    OK(clustron_txn_put(txn, S("y"), (const uint8_t *)"2", 1, NULL, NULL));
    OK(clustron_kv_put(store, S("x"), (const uint8_t *)"changed", 7, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_CONFLICT, clustron_txn_commit(txn, &revision, NULL));
    clustron_txn_free(txn);

    clustron_compare compare = {S("x"), CLUSTRON_COMPARE_VALUE, CLUSTRON_COMPARE_EQUAL, 0, (const uint8_t *)"changed", 7};
    clustron_op then_op = {CLUSTRON_OP_PUT, S("y"), (const uint8_t *)"ok", 2, NULL, NULL};
    clustron_txn_outcome outcome;
    clustron_results *responses = NULL;
    OK(clustron_txn_run(store, &compare, 1, &then_op, 1, NULL, 0, &outcome, &responses, NULL));
    CHECK(outcome.succeeded);
    CHECK(clustron_results_len(responses) == 1 && clustron_results_kind(responses, 0) == CLUSTRON_OP_PUT);
    clustron_results_free(responses);
    clustron_store_free(store);
}

static void sessions_and_leases(void) {
    clustron_store *store = open_store("c-test-session");
    clustron_session *session = NULL;
    clustron_status reason = CLUSTRON_OK;
    bool revoked = false;
    OK(clustron_session_open(store, 3000, &session, NULL));
    uint64_t lease = clustron_session_lease(session);
    CHECK(lease != 0);
    OK(clustron_store_advance_clock(store, 60000, NULL));
    CHECK(!clustron_session_is_lost(session));
    OK(clustron_lease_revoke(store, lease, &revoked, NULL));
    CHECK(revoked);
    CHECK(clustron_session_wait_lost(session, 0, &reason));
    CHECK(reason == CLUSTRON_LEASE_NOT_FOUND);
    clustron_session_free(session);
    clustron_store_free(store);
}

/* The admin handle refuses bad targets, options and ids before anything is sent. */
static void admin_calls_refuse_bad_input(void) {
    clustron_admin *admin = NULL;
    char *text = NULL;
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_open("orders", &admin, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_open("clustron://inproc/orders", &admin, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_open(NULL, &admin, NULL));
    CHECK(admin == NULL);
    OK(clustron_admin_open("clustron://127.0.0.1:9", &admin, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_stores(NULL, &text, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_create_store(admin, "s", "{\"replica\": 3}", &text, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_create_store(admin, "s", NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_drain_member(admin, "not-hex", NULL));
    CHECK(text == NULL);
    clustron_text_free(NULL);
    clustron_admin_free(admin);
}

static void backups_round_trip_and_refuse_damaged_files(void) {
    clustron_store *store = open_store("c-test-backup");
    char key[16];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof key, "k/%03d", i);
        OK(clustron_kv_put(store, key, (size_t)n, (const uint8_t *)"v\0x", 3, NULL, NULL, NULL));
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/clustron-c-test-%d.backup", (int)getpid());
    char *info = NULL;
    OK(clustron_store_backup(store, path, &info, NULL));
    CHECK(strstr(info, "\"entries\":100") != NULL);
    clustron_text_free(info);
    info = NULL;
    OK(clustron_backup_inspect(path, &info, NULL));
    CHECK(strstr(info, "\"store\":\"c-test-backup\"") != NULL);
    clustron_text_free(info);

    clustron_store *copy = NULL;
    OK(clustron_restore(path, "c-test-backup-copy", &copy, NULL));
    clustron_entry *entry = NULL;
    OK(clustron_kv_get(copy, S("k/042"), &entry, NULL));
    size_t len = 0;
    const uint8_t *value = clustron_entry_value(entry, &len);
    CHECK(len == 3 && memcmp(value, "v\0x", 3) == 0);
    clustron_entry_free(entry);
    /* Into a store that holds data: conflict, and the store handle is not written. */
    clustron_store *again = NULL;
    CHECK_STATUS(CLUSTRON_CONFLICT, clustron_restore(path, "c-test-backup-copy", &again, NULL));
    CHECK(again == NULL);
    /* Nor replaced while it is open in this process (it ends with its last handle). */
    CHECK_STATUS(CLUSTRON_CONFLICT, clustron_restore_replacing(path, "c-test-backup-copy", &again, NULL));
    CHECK(again == NULL);
    /* A new name: replacing is restoring. */
    OK(clustron_restore_replacing(path, "c-test-backup-copy-2", &again, NULL));
    OK(clustron_kv_get(again, S("k/099"), &entry, NULL));
    CHECK(entry != NULL);
    clustron_entry_free(entry);
    clustron_store_free(again);
    again = NULL;
    /* A truncated file: invalid input naming why. */
    FILE *file = fopen(path, "r+b");
    CHECK(file != NULL);
    CHECK(fseek(file, 0, SEEK_END) == 0);
    long size = ftell(file);
    fclose(file);
    CHECK(truncate(path, size - 5) == 0);
    clustron_error *error = NULL;
    CHECK(clustron_backup_inspect(path, &info, &error) == CLUSTRON_INVALID_INPUT);
    CHECK(strstr(clustron_error_message(error), "cut short") != NULL);
    clustron_error_free(error);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_store_backup(store, NULL, NULL, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_restore(path, NULL, &again, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_restore_replacing(NULL, "x", &again, NULL));
    CHECK_STATUS(CLUSTRON_NOT_FOUND, clustron_restore("/nonexistent/backup", "x", &again, NULL));
    remove(path);
    clustron_store_free(copy);
    clustron_store_free(store);
}

int main(void) {
    errors_carry_code_and_message();
    admin_calls_refuse_bad_input();
    null_handles_and_pointers_are_refused();
    bad_lengths_utf8_flags_and_ttls_are_invalid_input();
    values_with_nul_bytes_and_entries_round_trip();
    gets_copy_into_the_callers_buffer();
    scans_page_through_every_key();
    searches_page_by_label_and_count();
    use_after_close_and_double_cancel_are_reported();
    transactions_conflict_and_commit();
    sessions_and_leases();
    backups_round_trip_and_refuse_damaged_files();
    puts("test_api: ok");
    return 0;
}
