/*
 * gw_test_db.h - throwaway databases for the gateway's database tests
 * (registry, keys, usage log, CLI). SQLite: a file in a fresh temp dir.
 * PostgreSQL (when TEST_PG_URL is set, e.g. by `make test`): a fresh schema
 * selected through the URL's search_path, dropped afterwards. Each test file
 * runs its group once per backend, so every SQL statement is exercised on
 * both.
 */
#ifndef GW_TEST_DB_H
#define GW_TEST_DB_H

#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool postgres;
    char url[600];
    char dir[64];    /* sqlite */
    char path[96];   /* sqlite */
    char schema[64]; /* postgres */
    char base[400];  /* postgres: TEST_PG_URL */
} gw_test_db;

static inline core_err gw_test_db_exec_job(store_conn *c, void *ud)
{
    return store_exec(c, ud, NULL, 0);
}

typedef struct {
    const char *sql;
    store_rows *rows;
} gw_test_db_query_args;

static inline core_err gw_test_db_query_job(store_conn *c, void *ud)
{
    gw_test_db_query_args *a = ud;
    return store_query(c, a->sql, NULL, 0, &a->rows);
}

/* Runs one parameterless query on s; the rows (caller frees), or NULL on
 * failure. */
static inline store_rows *gw_test_db_query(store *s, const char *sql)
{
    gw_test_db_query_args a = {sql, NULL};
    if (store_run_sync(s, gw_test_db_query_job, &a) != CORE_OK) return NULL;
    return a.rows;
}

static inline core_err gw_test_db_sql(const char *url, const char *sql)
{
    store *s = NULL;
    char errbuf[256];
    core_err err = store_open(url, 1, &s, errbuf, sizeof errbuf);
    if (err) {
        fprintf(stderr, "gw_test_db: %s\n", errbuf);
        return err;
    }
    err = store_run_sync(s, gw_test_db_exec_job, (void *)sql);
    store_close(s);
    return err;
}

/* The PostgreSQL base URL, or NULL when PostgreSQL tests are off. */
static inline const char *gw_test_db_pg_url(void)
{
    const char *url = getenv("TEST_PG_URL");
    return url && *url ? url : NULL;
}

/* Creates an empty database; db->url is ready for store_open. 0 on success. */
static inline int gw_test_db_create(gw_test_db *db, bool postgres)
{
    memset(db, 0, sizeof *db);
    db->postgres = postgres;
    if (!postgres) {
        strcpy(db->dir, "/tmp/aigw-gwtest-XXXXXX");
        if (!mkdtemp(db->dir)) return -1;
        snprintf(db->path, sizeof db->path, "%s/aigw.db", db->dir);
        snprintf(db->url, sizeof db->url, "sqlite:%s", db->path);
        return 0;
    }
    const char *base = gw_test_db_pg_url();
    char id[40], sql[128];
    if (!base) return -1;
    snprintf(db->base, sizeof db->base, "%s", base);
    random_id("", id, sizeof id);
    snprintf(db->schema, sizeof db->schema, "gwtest_%s", id);
    snprintf(db->url, sizeof db->url, "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? '&' : '?', db->schema);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", db->schema);
    return gw_test_db_sql(db->base, sql) == CORE_OK ? 0 : -1;
}

static inline void gw_test_db_destroy(gw_test_db *db)
{
    if (db->postgres) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", db->schema);
        gw_test_db_sql(db->base, sql);
        return;
    }
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[128];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db->path, suffixes[i]);
        unlink(path);
    }
    rmdir(db->dir);
}

#endif
