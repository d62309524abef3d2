/*
 * hub_cli.h - the operator subcommands of the teamhub binary (migrate, users
 * create, tokens create, usage verify) and the --seed-demo bootstrap. All run
 * synchronously on the calling thread (store_run_sync) before or instead of
 * serving; output goes to stdout, errors to stderr.
 */
#ifndef HUB_CLI_H
#define HUB_CLI_H

#include "hub_app.h"

/* Opens the store named by cfg (creating the SQLite directory when needed)
 * and applies migrations. Prints the reason on failure. */
core_err hub_cli_open_store(const hub_config *cfg, store **out);

/* Subcommand dispatch: argv[1] is the subcommand. Returns the exit code. */
int hub_cli_main(int argc, char **argv);

/* Creates (or refreshes) the demo organization with an admin and a member
 * and prints their credentials. Idempotent: re-running resets the demo
 * passwords and prints the new ones. */
core_err hub_cli_seed_demo(store *db);

#endif
