/*
 * Access control from C, on a 3-node cluster started with --auth: the admin calls
 * (clustron_admin_access), a token read from token_file=, both error codes and their
 * messages, a prefix-limited reader on every kind of read, the permission matrix (19
 * operation kinds for a reader, a prefix-limited user and the admin), no, forged, malformed
 * and expired tokens, and a revoked token ending a watch. `make test-bindings-cluster` runs it (under valgrind) with CLUSTRON_AUTH_NODES and
 * CLUSTRON_ADMIN_TOKEN_FILE; without them it fails, it never skips.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static const char *nodes;
static const char *admin_token_file;

/* `clustron://NODES/orders` with `query` (may be empty) appended. */
static void target(char *out, size_t size, const char *store, const char *query) {
    int written = snprintf(out, size, "clustron://%s%s%s%s", nodes, store[0] ? "/" : "", store, query);
    CHECK(written > 0 && (size_t)written < size);
}

/* Runs an access request; the answer's text (free with clustron_text_free). */
static char *access_request(const clustron_admin *admin, const char *request) {
    char *answer = NULL;
    clustron_error *error = NULL;
    clustron_status status = clustron_admin_access(admin, request, &answer, &error);
    if (status != CLUSTRON_OK) {
        fprintf(stderr, "%s: %s\n", request, clustron_error_message(error));
        clustron_error_free(error);
    }
    CHECK(status == CLUSTRON_OK);
    CHECK(answer != NULL);
    return answer;
}

/* Copies the JSON string field `name` of `json` into `out`. */
static void field(const char *json, const char *name, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
    const char *start = strstr(json, pattern);
    CHECK(start != NULL);
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    CHECK(end != NULL && (size_t)(end - start) < size);
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
}

/* The call fails with `expected`; its message must hold `needle` and not `secret`. */
#define CHECK_REFUSED(expected, needle, secret, call)                                      \
    do {                                                                                   \
        clustron_error *error_ = NULL;                                                     \
        CHECK_STATUS(expected, call(&error_));                                             \
        const char *message_ = clustron_error_message(error_);                             \
        if (strstr(message_, needle) == NULL || strstr(message_, secret) != NULL) {       \
            fprintf(stderr, "%s:%d: unexpected message: %s\n", __FILE__, __LINE__, message_); \
            exit(1);                                                                       \
        }                                                                                  \
        clustron_error_free(error_);                                                       \
    } while (0)

/* The operation kinds of the permission matrix (cli/tests/auth.rs runs the same from Rust):
 * `c/` is the prefix-limited user's, `d/` lies outside it. */
#define MATRIX 19
static const char *const OPERATIONS[MATRIX] = {
    "put c/",  "put d/",    "get c/",   "get d/",    "delete d/", "scan c/", "scan all",
    "count all", "clear d/", "txn c/", "txn c/+d/", "watch c/", "watch all", "lock c/",
    "lock d/", "counter c/", "lease",   "search",    "status",
};

/* Runs every operation kind once through `store`; each one's status into `out`. */
static void operations(const clustron_store *store, clustron_status out[MATRIX]) {
    int i = 0;
    clustron_entry *entry = NULL;
    clustron_entries *entries = NULL;
    clustron_results *results = NULL;
    clustron_watch *watch = NULL;
    clustron_lock *lock = NULL;
    clustron_range prefix_c = {CLUSTRON_RANGE_PREFIX, S("c/"), NULL, 0, false};
    clustron_range prefix_d = {CLUSTRON_RANGE_PREFIX, S("d/"), NULL, 0, false};
    out[i++] = clustron_kv_put(store, S("c/1"), (const uint8_t *)"v", 1, NULL, NULL, NULL);
    out[i++] = clustron_kv_put(store, S("d/1"), (const uint8_t *)"v", 1, NULL, NULL, NULL);
    out[i++] = clustron_kv_get(store, S("c/1"), &entry, NULL);
    clustron_entry_free(entry);
    entry = NULL;
    out[i++] = clustron_kv_get(store, S("d/1"), &entry, NULL);
    clustron_entry_free(entry);
    out[i++] = clustron_kv_delete(store, S("d/2"), NULL, NULL, NULL);
    out[i++] = clustron_kv_scan(store, &prefix_c, NULL, 0, 0, &entries, NULL);
    clustron_entries_free(entries);
    entries = NULL;
    out[i++] = clustron_kv_scan(store, NULL, NULL, 0, 0, &entries, NULL);
    clustron_entries_free(entries);
    entries = NULL;
    uint64_t count = 0;
    out[i++] = clustron_kv_count(store, NULL, &count, NULL);
    out[i++] = clustron_kv_clear(store, &prefix_d, NULL, NULL, NULL);
    clustron_op inside[2] = {{CLUSTRON_OP_PUT, S("c/t"), (const uint8_t *)"1", 1, NULL, NULL},
                             {CLUSTRON_OP_GET, S("c/1"), NULL, 0, NULL, NULL}};
    clustron_op across[2] = {{CLUSTRON_OP_PUT, S("c/t"), (const uint8_t *)"1", 1, NULL, NULL},
                             {CLUSTRON_OP_GET, S("d/1"), NULL, 0, NULL, NULL}};
    clustron_txn_outcome outcome;
    out[i++] = clustron_txn_run(store, NULL, 0, inside, 2, NULL, 0, &outcome, &results, NULL);
    clustron_results_free(results);
    results = NULL;
    out[i++] = clustron_txn_run(store, NULL, 0, across, 2, NULL, 0, &outcome, &results, NULL);
    clustron_results_free(results);
    out[i++] = clustron_watch_range(store, &prefix_c, NULL, &watch, NULL);
    clustron_watch_free(watch);
    watch = NULL;
    out[i++] = clustron_watch_range(store, NULL, NULL, &watch, NULL);
    clustron_watch_free(watch);
    clustron_lock_options hold = {CLUSTRON_LOCK_TTL, 60000, 0, 0};
    const char *lock_names[2] = {"c/lock", "d/lock"};
    for (int n = 0; n < 2; n++) {
        out[i++] = clustron_lock_acquire(store, lock_names[n], 6, &hold, &lock, NULL);
        if (lock != NULL) {
            bool released = false;
            OK(clustron_lock_release(lock, &released, NULL));
            clustron_lock_free(lock);
            lock = NULL;
        }
    }
    out[i++] = clustron_counter_add(store, S("c/n"), 1, NULL, NULL, NULL);
    clustron_lease_info lease;
    out[i++] = clustron_lease_grant(store, 60000, &lease, NULL);
    clustron_search search;
    memset(&search, 0, sizeof search);
    out[i++] = clustron_kv_search(store, &search, &entries, NULL);
    clustron_entries_free(entries);
    clustron_store_stats stats;
    out[i++] = clustron_store_status(store, &stats, NULL);
    CHECK(i == MATRIX);
}

/* Opens `orders` with the token in `secret` (written to a file), runs the matrix and
 * compares each outcome with `expected`. */
static void check_matrix(const char *who, const char *secret, const clustron_status expected[MATRIX]) {
    char token_file[] = "/tmp/clustron-c-matrix-XXXXXX";
    int fd = mkstemp(token_file);
    CHECK(fd >= 0);
    CHECK(write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret));
    close(fd);
    char query[256], address[1024];
    snprintf(query, sizeof query, "?token_file=%s", token_file);
    target(address, sizeof address, "orders", query);
    clustron_store *store = NULL;
    OK(clustron_store_open(address, &store, NULL));
    clustron_status got[MATRIX];
    operations(store, got);
    int wrong = 0;
    for (int n = 0; n < MATRIX; n++) {
        if (got[n] != expected[n]) {
            fprintf(stderr, "%s: %s gave %s, expected %s\n", who, OPERATIONS[n], clustron_status_name(got[n]),
                    clustron_status_name(expected[n]));
            wrong++;
        }
    }
    CHECK(wrong == 0);
    clustron_store_free(store);
    unlink(token_file);
}

int main(void) {
    nodes = getenv("CLUSTRON_AUTH_NODES");
    admin_token_file = getenv("CLUSTRON_ADMIN_TOKEN_FILE");
    if (nodes == NULL || admin_token_file == NULL) {
        fprintf(stderr, "needs a cluster with --auth: CLUSTRON_AUTH_NODES and CLUSTRON_ADMIN_TOKEN_FILE\n");
        return 2;
    }
    char address[1024], query[512];

    /* The admin makes a reader of c/ and writes through its own token. */
    snprintf(query, sizeof query, "?token_file=%s", admin_token_file);
    target(address, sizeof address, "", query);
    clustron_admin *admin = NULL;
    OK(clustron_admin_open(address, &admin, NULL));
    char *answer = access_request(admin, "{\"op\": \"whoami\"}");
    CHECK(strstr(answer, "\"user\":\"admin\"") != NULL);
    clustron_text_free(answer);
    clustron_text_free(access_request(admin, "{\"op\": \"add_role\", \"name\": \"c-reader\", \"grants\": [\"read,watch@orders:c/\"]}"));
    clustron_text_free(access_request(admin, "{\"op\": \"add_user\", \"name\": \"c-reader\", \"roles\": [\"c-reader\"]}"));
    answer = access_request(admin, "{\"op\": \"create_token\", \"user\": \"c-reader\", \"description\": \"the C test\"}");
    char secret[128], id[32];
    field(answer, "secret", secret, sizeof secret);
    field(answer, "id", id, sizeof id);
    clustron_text_free(answer);
    CHECK(strncmp(secret, "clustron1_", 10) == 0);

    /* Admin calls are coded errors too: unknown role, malformed request, a missing admin handle. */
    clustron_error *error = NULL;
    char *none = NULL;
    CHECK_STATUS(CLUSTRON_NOT_FOUND,
                 clustron_admin_access(admin, "{\"op\": \"add_user\", \"name\": \"x\", \"roles\": [\"no-such-role\"]}", &none, &error));
    CHECK(strstr(clustron_error_message(error), "no-such-role") != NULL);
    clustron_error_free(error);
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_access(admin, "not json", &none, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_access(admin, NULL, &none, NULL));
    CHECK_STATUS(CLUSTRON_INVALID_INPUT, clustron_admin_access(NULL, "{\"op\": \"whoami\"}", &none, NULL));
    CHECK(none == NULL);

    target(address, sizeof address, "orders", query);
    clustron_store *root = NULL;
    OK(clustron_store_open(address, &root, NULL));
    OK(clustron_kv_put(root, S("c/1"), (const uint8_t *)"one", 3, NULL, NULL, NULL));
    OK(clustron_kv_put(root, S("d/1"), (const uint8_t *)"hidden", 6, NULL, NULL, NULL));

    /* The reader's token, from a file. */
    char token_file[] = "/tmp/clustron-c-auth-XXXXXX";
    int fd = mkstemp(token_file);
    CHECK(fd >= 0);
    CHECK(write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret));
    close(fd);
    snprintf(query, sizeof query, "?token_file=%s", token_file);
    target(address, sizeof address, "orders", query);
    clustron_store *reader = NULL;
    OK(clustron_store_open(address, &reader, NULL));

    clustron_entry *entry = NULL;
    OK(clustron_kv_get(reader, S("c/1"), &entry, NULL));
    size_t len = 0;
    const uint8_t *value = clustron_entry_value(entry, &len);
    CHECK(len == 3 && memcmp(value, "one", 3) == 0);
    clustron_entry_free(entry);
    entry = NULL;

#define PUT(err) clustron_kv_put(reader, S("c/2"), (const uint8_t *)"x", 1, NULL, NULL, err)
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "write", secret, PUT);
    /* Outside the prefix: refused the same way whether the key exists or not. */
#define GET_HIDDEN(err) clustron_kv_get(reader, S("d/1"), &entry, err)
#define GET_MISSING(err) clustron_kv_get(reader, S("d/404"), &entry, err)
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "read", "hidden", GET_HIDDEN);
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "read", "hidden", GET_MISSING);
    CHECK(entry == NULL);
    clustron_entries *entries = NULL;
#define SCAN_ALL(err) clustron_kv_scan(reader, NULL, NULL, 0, 0, &entries, err)
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "read", secret, SCAN_ALL);
    clustron_range mine = {CLUSTRON_RANGE_PREFIX, S("c/"), NULL, 0, false};
    OK(clustron_kv_scan(reader, &mine, NULL, 0, 0, &entries, NULL));
    CHECK(clustron_entries_len(entries) == 1);
    clustron_entries_free(entries);
    uint64_t count = 0;
#define COUNT_ALL(err) clustron_kv_count(reader, NULL, &count, err)
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "read", secret, COUNT_ALL);

    /* No token, a malformed one, an unknown one: unauthenticated, the secret never shown. */
    clustron_store *other = NULL;
    target(address, sizeof address, "orders", "");
#define OPEN(err) clustron_store_open(address, &other, err)
    CHECK_REFUSED(CLUSTRON_UNAUTHENTICATED, "token", secret, OPEN);
    const char *forged = "clustron1_00000000000000aa_0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(query, sizeof query, "?token=%s", forged);
    target(address, sizeof address, "orders", query);
    CHECK_REFUSED(CLUSTRON_UNAUTHENTICATED, "unknown or revoked", forged, OPEN);
    target(address, sizeof address, "orders", "?token=garbage");
    CHECK_REFUSED(CLUSTRON_UNAUTHENTICATED, "token", "garbage", OPEN);
    CHECK(other == NULL);

    /* The permission matrix: a reader of the store, a user limited to c/, the admin. */
    clustron_text_free(access_request(admin, "{\"op\": \"add_role\", \"name\": \"c-ro\", \"grants\": [\"read@orders\"]}"));
    clustron_text_free(access_request(admin, "{\"op\": \"add_user\", \"name\": \"c-ro\", \"roles\": [\"c-ro\"]}"));
    clustron_text_free(access_request(
        admin, "{\"op\": \"add_role\", \"name\": \"c-pre\", \"grants\": [\"read,write,coordinate,watch@orders:c/\"]}"));
    clustron_text_free(access_request(admin, "{\"op\": \"add_user\", \"name\": \"c-pre\", \"roles\": [\"c-pre\"]}"));
    char ro_secret[128], pre_secret[128], admin_secret[128], expired_secret[128];
    answer = access_request(admin, "{\"op\": \"create_token\", \"user\": \"c-ro\"}");
    field(answer, "secret", ro_secret, sizeof ro_secret);
    clustron_text_free(answer);
    answer = access_request(admin, "{\"op\": \"create_token\", \"user\": \"c-pre\"}");
    field(answer, "secret", pre_secret, sizeof pre_secret);
    clustron_text_free(answer);
    answer = access_request(admin, "{\"op\": \"create_token\", \"user\": \"c-pre\", \"ttl_ms\": 1}");
    field(answer, "secret", expired_secret, sizeof expired_secret);
    clustron_text_free(answer);
    FILE *admin_file = fopen(admin_token_file, "r");
    CHECK(admin_file != NULL && fgets(admin_secret, sizeof admin_secret, admin_file) != NULL);
    fclose(admin_file);
    admin_secret[strcspn(admin_secret, "\r\n")] = '\0';
#define O CLUSTRON_OK
#define D CLUSTRON_PERMISSION_DENIED
    const clustron_status as_reader[MATRIX] = {D, D, O, O, D, O, O, O, D, D, D, D, D, D, D, D, D, D, O};
    const clustron_status as_tenant[MATRIX] = {O, D, O, D, D, O, D, D, D, O, D, O, D, O, D, O, O, D, D};
    const clustron_status as_admin[MATRIX] = {O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O};
#undef O
#undef D
    check_matrix("reader", ro_secret, as_reader);
    check_matrix("prefix-limited", pre_secret, as_tenant);
    check_matrix("admin", admin_secret, as_admin);
    /* An expired token opens nothing. */
    snprintf(query, sizeof query, "?token=%s", expired_secret);
    target(address, sizeof address, "orders", query);
    clustron_store *expired_store = NULL;
#define OPEN_EXPIRED(err) clustron_store_open(address, &expired_store, err)
    CHECK_REFUSED(CLUSTRON_UNAUTHENTICATED, "token", expired_secret, OPEN_EXPIRED);
    CHECK(expired_store == NULL);

    /* A watch of the reader's prefix sees writes, and ends with permission_denied once its
     * token is revoked; the token's next request is unauthenticated. */
    clustron_watch *watch = NULL;
    OK(clustron_watch_range(reader, &mine, NULL, &watch, NULL));
    OK(clustron_kv_put(root, S("c/3"), (const uint8_t *)"three", 5, NULL, NULL, NULL));
    clustron_event *event = NULL;
    OK(clustron_watch_next(watch, 10000, &event, NULL));
    CHECK(event != NULL);
    clustron_event_free(event);
    event = NULL;
    char revoke[128];
    snprintf(revoke, sizeof revoke, "{\"op\": \"revoke_token\", \"id\": \"%s\"}", id);
    clustron_text_free(access_request(admin, revoke));
#define NEXT(err) clustron_watch_next(watch, 5000, &event, err)
    CHECK_REFUSED(CLUSTRON_PERMISSION_DENIED, "revoked", secret, NEXT);
    CHECK(event == NULL);
#define GET_AFTER(err) clustron_kv_get(reader, S("c/1"), &entry, err)
    CHECK_REFUSED(CLUSTRON_UNAUTHENTICATED, "unknown or revoked", secret, GET_AFTER);

    clustron_watch_free(watch);
    clustron_store_free(reader);
    clustron_store_free(root);
    clustron_admin_free(admin);
    unlink(token_file);
    printf("access control through the C ABI: ok\n");
    return 0;
}
