/*
 * cli.h - aigw's admin commands, run from the shell against the database:
 *
 *   aigw migrate
 *   aigw models list [--json]
 *   aigw models add --provider P --model M --input 0.15 --output 0.60
 *        [--cached-input X] [--unit per_1m_tokens|per_request|per_second]
 *        [--price X (per_request/per_second)] [--context N] [--max-output N]
 *        [--caps chat,streaming,tools] [--display-name ..] --source ".."
 *        [--date YYYY-MM-DD]
 *   aigw models update P/M [same flags; a price change needs --source]
 *   aigw models deprecate|enable|disable P/M
 *   aigw keys create --name NAME [--rpm N] [--tpm N] [--models LIST]
 *        (LIST: comma-separated provider/model patterns, '*' is a wildcard)
 *   aigw keys list [--json]
 *   aigw keys revoke ID
 *
 * Every command first applies pending migrations and seeds the catalog (both
 * idempotent), so it works on a fresh database. Prices are decimal strings
 * parsed exactly (money_parse), never floats. Admin edits set
 * updated_by='admin', so catalog upgrades never overwrite them.
 * `keys create` prints the token alone on stdout (script-friendly: it is
 * shown only this once) and its id and a reminder on stderr.
 *
 * Exit codes: 0 success, 1 failure (database, not found, already exists),
 * 2 usage error (unknown command or flag, malformed value).
 *
 * Threads: blocking; meant for main() of the aigw binary, not for a loop.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define GW_CLI_OK      0
#define GW_CLI_FAILURE 1
#define GW_CLI_USAGE   2

/* True when word is an admin command ("migrate", "models", "keys"), i.e.
 * aigw should run gw_cli_main instead of starting the server. */
bool gw_cli_is_command(const char *word);

/* argv[0] is the program name (ignored), argv[1] the command, then its
 * arguments; the caller has removed the global flags it consumed (such as
 * --database). database_url as for store_open. Output to stdout/stderr. */
int gw_cli_main(int argc, char **argv, const char *database_url);

/* Same, writing to out and err (tests capture them). */
int gw_cli_run(int argc, char **argv, const char *database_url, FILE *out, FILE *err);

#endif
