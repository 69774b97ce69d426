/*
 * Watch-driven configuration reload: a reader thread loads every "config/" key (the watch's
 * snapshot), then applies each change as it happens; the main thread changes the
 * configuration. No polling: the reader blocks in clustron_watch_next.
 *
 *   cc config_reload.c $(pkg-config --cflags --libs clustron) -lpthread -o config_reload && ./config_reload
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clustron.h"

#define CHANGES 3

static clustron_store *store;

static void must(clustron_status status, const char *what) {
    if (status != CLUSTRON_OK) {
        fprintf(stderr, "%s failed: %s\n", what, clustron_status_name(status));
        exit(1);
    }
}

static void *reader(void *arg) {
    clustron_watch *watch = (clustron_watch *)arg;
    int live = 0;
    while (live < CHANGES) {
        clustron_event *event = NULL;
        must(clustron_watch_next(watch, 10000, &event, NULL), "next");
        if (event == NULL) {
            fprintf(stderr, "no configuration change within 10 s\n");
            exit(1);
        }
        size_t key_len = 0, value_len = 0;
        const clustron_entry *entry = clustron_event_entry(event);
        const char *key = clustron_entry_key(entry, &key_len);
        const uint8_t *value = clustron_entry_value(entry, &value_len);
        if (clustron_event_is_snapshot(event)) {
            printf("loaded  %.*s = %.*s\n", (int)key_len, key, (int)value_len, (const char *)value);
        } else if (clustron_event_kind(event) == CLUSTRON_EVENT_PUT) {
            printf("reload  %.*s = %.*s (revision %llu)\n", (int)key_len, key, (int)value_len, (const char *)value,
                   (unsigned long long)clustron_event_revision(event));
            live++;
        } else {
            printf("removed %.*s\n", (int)key_len, key);
            live++;
        }
        clustron_event_free(event);
    }
    return NULL;
}

int main(void) {
    must(clustron_store_open("c-config-reload", &store, NULL), "open");
    must(clustron_kv_put(store, "config/color", 12, (const uint8_t *)"blue", 4, NULL, NULL, NULL), "put");
    must(clustron_kv_put(store, "config/size", 11, (const uint8_t *)"10", 2, NULL, NULL, NULL), "put");

    /* Snapshot then live, with no gap between them. */
    clustron_range prefix = {CLUSTRON_RANGE_PREFIX, "config/", 7, NULL, 0, false};
    clustron_watch_options options = {CLUSTRON_WATCH_SNAPSHOT, 0};
    clustron_watch *watch = NULL;
    must(clustron_watch_range(store, &prefix, &options, &watch, NULL), "watch");
    pthread_t thread;
    if (pthread_create(&thread, NULL, reader, watch) != 0) {
        return 1;
    }
    must(clustron_kv_put(store, "config/color", 12, (const uint8_t *)"green", 5, NULL, NULL, NULL), "put");
    must(clustron_kv_put(store, "config/size", 11, (const uint8_t *)"12", 2, NULL, NULL, NULL), "put");
    must(clustron_kv_delete(store, "config/color", 12, NULL, NULL, NULL), "delete");
    pthread_join(thread, NULL);
    clustron_watch_free(watch);
    clustron_store_free(store);
    return 0;
}
