/*
 * hub_cli.c - operator subcommands: `teamhub migrate`, `teamhub users create`,
 * `teamhub tokens create`, `teamhub usage verify`, and the demo seed. They
 * run before (or instead of) the server, synchronously, with a store
 * connection of their own.
 */
#include "hub_cli.h"
#include "hub_accounts.h"
#include "hub_gov_schema.h"
#include "hub_schema.h"
#include "hub_verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* mkdir -p for the directory part of a SQLite path. */
static void ensure_sqlite_dir(const char *url)
{
    if (strncmp(url, "sqlite:", 7) != 0) return;
    const char *path = url + 7;
    if (strncmp(path, "//", 2) == 0) path += 2;
    if (strcmp(path, ":memory:") == 0) return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
    mkdir(dir, 0755);
}

core_err hub_cli_open_store(const hub_config *cfg, store **out)
{
    char errbuf[512] = "";
    ensure_sqlite_dir(cfg->database_url);
    core_err err = store_open(cfg->database_url, 0, out, errbuf, sizeof errbuf);
    if (err) {
        fprintf(stderr, "teamhub: cannot open the database: %s\n", errbuf);
        return err;
    }
    err = hub_schema_migrate(*out, errbuf, sizeof errbuf);
    if (!err) err = hub_gov_schema_migrate(*out, errbuf, sizeof errbuf);
    if (err) {
        fprintf(stderr, "teamhub: migration failed: %s\n", errbuf);
        store_close(*out);
        *out = NULL;
    }
    return err;
}

/* ---- users create ---- */

typedef struct {
    const char *email, *password, *org, *role, *name;
    hub_err result;
    char msg[256];
    char user_id[40], org_id[40];
} user_create_args;

static core_err user_create_job(store_conn *conn, void *ud)
{
    user_create_args *a = ud;
    core_err err = store_begin(conn);
    if (err) return err;
    a->result =
        hub_user_create(conn, a->email, a->password, a->name, a->user_id, a->msg, sizeof a->msg);
    if (!a->result) {
        a->result = hub_org_find_by_name(conn, a->org, a->org_id);
        if (a->result == HUB_ERR_NOT_FOUND) a->result = hub_org_create(conn, a->org, a->org_id);
    }
    if (!a->result) a->result = hub_membership_set(conn, a->org_id, a->user_id, a->role);
    if (a->result) {
        store_rollback(conn);
        return CORE_OK;
    }
    return store_commit(conn);
}

/* ---- tokens create ---- */

typedef struct {
    const char *email, *name;
    hub_err result;
    char user_id[40], token_id[40], token[HUB_TOKEN_MAX];
} token_create_args;

static core_err token_create_job(store_conn *conn, void *ud)
{
    token_create_args *a = ud;
    a->result = hub_user_find(conn, a->email, a->user_id);
    if (!a->result) a->result = hub_token_create(conn, a->user_id, a->name, a->token_id, a->token);
    return CORE_OK;
}

/* ---- demo seed ---- */

typedef struct {
    char org_id[40];
    char admin_pw[32], member_pw[32];
    char msg[256];
    hub_err result;
} seed_args;

static void random_password(char out[32])
{
    char id[40];
    random_id("", id, sizeof id);
    snprintf(out, 32, "demo-%.16s", id + 10); /* the random half of the id */
}

static hub_err seed_user(store_conn *conn, const char *email, const char *name,
                         const char *password, const char *org_id, const char *role, char *msg,
                         size_t msglen)
{
    char user_id[40];
    hub_err err = hub_user_find(conn, email, user_id);
    if (err == HUB_ERR_NOT_FOUND)
        err = hub_user_create(conn, email, password, name, user_id, msg, msglen);
    else if (!err)
        err = hub_user_set_password(conn, user_id, password, msg, msglen);
    if (!err) err = hub_membership_set(conn, org_id, user_id, role);
    return err;
}

static core_err seed_job(store_conn *conn, void *ud)
{
    seed_args *a = ud;
    core_err err = store_begin(conn);
    if (err) return err;
    a->result = hub_org_find_by_name(conn, "Demo Organization", a->org_id);
    if (a->result == HUB_ERR_NOT_FOUND)
        a->result = hub_org_create(conn, "Demo Organization", a->org_id);
    if (!a->result)
        a->result = seed_user(conn, "admin@demo.teamhub.local", "Demo Admin", a->admin_pw,
                              a->org_id, "admin", a->msg, sizeof a->msg);
    if (!a->result)
        a->result = seed_user(conn, "member@demo.teamhub.local", "Demo Member", a->member_pw,
                              a->org_id, "member", a->msg, sizeof a->msg);
    if (a->result) {
        store_rollback(conn);
        return CORE_OK;
    }
    return store_commit(conn);
}

core_err hub_cli_seed_demo(store *db)
{
    seed_args a;
    memset(&a, 0, sizeof a);
    random_password(a.admin_pw);
    random_password(a.member_pw);
    core_err err = store_run_sync(db, seed_job, &a);
    if (err || a.result) {
        fprintf(stderr, "teamhub: demo seed failed: %s\n", a.msg[0] ? a.msg : core_strerror(err));
        return err ? err : CORE_EDB;
    }
    printf("teamhub demo organization \"Demo Organization\" (%s)\n"
           "  admin:  admin@demo.teamhub.local   password: %s\n"
           "  member: member@demo.teamhub.local  password: %s\n",
           a.org_id, a.admin_pw, a.member_pw);
    fflush(stdout);
    return CORE_OK;
}

/* ---- dispatch ---- */

static const char *flag_value(int argc, char **argv, int start, const char *name)
{
    for (int i = start; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}

/* Flags the subcommand itself consumes are removed before the generic ones
 * (--database) are applied. */
static bool config_for_cli(hub_config *cfg, int argc, char **argv, int start)
{
    hub_config_defaults(cfg);
    const char *db = flag_value(argc, argv, start, "--database");
    if (db) snprintf(cfg->database_url, sizeof cfg->database_url, "%s", db);
    return true;
}

int hub_cli_main(int argc, char **argv)
{
    hub_config cfg;
    store *db = NULL;
    int rc = 1;
    const char *cmd = argv[1];
    const char *sub = argc > 2 ? argv[2] : "";
    config_for_cli(&cfg, argc, argv, 2);

    if (strcmp(cmd, "migrate") == 0) {
        if (hub_cli_open_store(&cfg, &db) != CORE_OK) return 1;
        printf("teamhub: database is up to date\n");
        rc = 0;
    } else if (strcmp(cmd, "users") == 0 && strcmp(sub, "create") == 0) {
        user_create_args a;
        memset(&a, 0, sizeof a);
        a.email = flag_value(argc, argv, 3, "--email");
        a.password = flag_value(argc, argv, 3, "--password");
        a.org = flag_value(argc, argv, 3, "--org");
        a.role = flag_value(argc, argv, 3, "--role");
        a.name = flag_value(argc, argv, 3, "--name");
        if (!a.role) a.role = "member";
        if (!a.email || !a.password || !a.org || hub_role_rank(a.role) < 0) {
            fprintf(stderr, "usage: teamhub users create --email E --password P --org NAME "
                            "[--role owner|admin|member] [--name N] [--database URL]\n");
            return 2;
        }
        if (hub_cli_open_store(&cfg, &db) != CORE_OK) return 1;
        core_err err = store_run_sync(db, user_create_job, &a);
        if (err || a.result) {
            fprintf(stderr, "teamhub: %s\n", a.msg[0] ? a.msg : "could not create the user");
        } else {
            printf("created user %s (%s) as %s of \"%s\" (%s)\n", a.email, a.user_id, a.role, a.org,
                   a.org_id);
            rc = 0;
        }
    } else if (strcmp(cmd, "tokens") == 0 && strcmp(sub, "create") == 0) {
        token_create_args a;
        memset(&a, 0, sizeof a);
        a.email = flag_value(argc, argv, 3, "--email");
        a.name = flag_value(argc, argv, 3, "--name");
        if (!a.name) a.name = "cli";
        if (!a.email) {
            fprintf(stderr, "usage: teamhub tokens create --email E [--name N] [--database URL]\n");
            return 2;
        }
        if (hub_cli_open_store(&cfg, &db) != CORE_OK) return 1;
        core_err err = store_run_sync(db, token_create_job, &a);
        if (err || a.result) {
            fprintf(stderr, "teamhub: %s\n",
                    a.result == HUB_ERR_NOT_FOUND ? "no user with that e-mail" : "database error");
        } else {
            printf("%s\n", a.token);
            rc = 0;
        }
    } else if (strcmp(cmd, "usage") == 0 && strcmp(sub, "verify") == 0) {
        /* the one reconciliation (hub_verify.c); it reads, it never migrates */
        return hub_verify_main(argc, argv, 3, cfg.database_url);
    } else {
        fprintf(stderr, "teamhub: unknown command '%s %s'\n\n", cmd, sub);
        hub_config_usage(stderr);
        return 2;
    }
    if (db) store_close(db);
    return rc;
}
