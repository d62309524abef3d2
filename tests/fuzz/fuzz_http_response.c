/*
 * fuzz_http_response.c - libFuzzer target for the response parser of the HTTP
 * client's plain-HTTP fast path (http_client_parse_response). The first byte
 * picks the flags (HEAD request, peer closes after the bytes) and a piece
 * size; the rest is parsed whole and in pieces of that size. Both runs must
 * agree on the result and, when one response was read or more is needed, on
 * the digest; the digest of a body-less answer must not carry body bytes.
 * Any difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/http_client.h"

enum { MAX_PIECES = 4096 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool head = data[0] & 1;
    bool eof = data[0] & 2;
    size_t piece = (size_t)(data[0] >> 2) + 1;
    const char *bytes = (const char *)data + 1;
    size_t len = size - 1;
    if (len / piece + 1 > MAX_PIECES) piece = len / MAX_PIECES + 1;

    static slice_t pieces[MAX_PIECES];
    size_t n = 0;
    for (size_t at = 0; at < len; at += piece)
        pieces[n++] = (slice_t){bytes + at, MIN(piece, len - at)};

    buf_t whole, split;
    buf_init(&whole, 0);
    buf_init(&split, 0);
    slice_t one = {bytes, len};
    core_err a = http_client_parse_response(&one, 1, head, eof, &whole);
    core_err b = http_client_parse_response(pieces, n, head, eof, &split);
    if (a != b) abort();
    if (a != CORE_OK && a != CORE_EAGAIN && a != CORE_EPARSE && a != CORE_ETOOBIG && a != CORE_EIO)
        abort();
    if ((a == CORE_OK || a == CORE_EAGAIN) &&
        (whole.len != split.len || memcmp(whole.data, split.data, whole.len) != 0))
        abort();
    /* The digest never holds more than the input plus its own framing. */
    if (whole.len > 4 * len + 256 && a == CORE_OK) abort();
    buf_free(&whole);
    buf_free(&split);
    return 0;
}
