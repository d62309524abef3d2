/*
 * http_internal.h - helpers shared by http_server.c and http_router.c only.
 * Not part of the public HTTP API; nothing outside src/core/http_*.c includes it.
 */
#ifndef CORE_HTTP_INTERNAL_H
#define CORE_HTTP_INTERNAL_H

#include "http_server.h"

/* Percent-decodes s ('+' as space when form) into a NUL-terminated copy in the
 * request arena; malformed escapes are kept literally. NULL on arena OOM.
 * Loop thread of req. */
char *http_decode_into_arena(http_request *req, slice_t s, bool form, size_t *len_out);

#endif
