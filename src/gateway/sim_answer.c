/*
 * sim_answer.c - what the simulator says: deterministic prose (an intro that
 * says the reply is simulated, then sentences from fixed word lists, with
 * paragraph breaks and an optional short code block), verbatim replies, and
 * tool-call arguments that fit a tool's JSON schema. Everything is derived
 * from a seed, so the same request always gets the same answer. The timing
 * and the event stream live in provider_simulator.c.
 */
#include "sim_answer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define SIM_MAX_SCHEMA_DEPTH 4
#define SIM_MAX_PROPERTIES   16

/* ------------------------------------------------------------------ hashing */

uint64_t gw_sim_fnv1a(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ p[i]) * GW_SIM_FNV_PRIME;
    return hash;
}

uint64_t gw_sim_fnv1a_str(uint64_t hash, const char *s)
{
    hash = gw_sim_fnv1a(hash, s, strlen(s));
    return (hash ^ 0xffu) * GW_SIM_FNV_PRIME; /* separator so "ab"+"c" != "a"+"bc" */
}

/* xorshift64*: a small deterministic generator seeded from the hash. */
uint64_t gw_sim_rng_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t gw_sim_rng_range(uint64_t *state, int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    return lo + (int64_t)(gw_sim_rng_next(state) % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------------ the answer */

static const char *const SUBJECTS[] = {
    "the gateway",    "this answer",      "the router",    "each request",
    "your team",      "the stream",       "the simulator", "every provider",
    "a careful plan", "the usage ledger", "the model",     "a good default",
};
static const char *const VERBS[] = {
    "keeps",     "explains", "measures", "follows", "shapes",   "checks",
    "describes", "delivers", "balances", "tracks",  "protects", "reports",
};
static const char *const OBJECTS[] = {
    "the cost of every call",     "a steady stream of tokens",   "the latency of each provider",
    "a clear and useful summary", "the budget for the month",    "the health of the models",
    "a friendly reply",           "the order of events",         "a small worked example",
    "the limits you configured",  "the context of the question", "the answer you asked for",
};
static const char *const TAILS[] = {
    "",
    " without any network access",
    " in a predictable way",
    " for your tests",
    " with deterministic timing",
    " so that tests stay stable",
    " as expected",
    " one token at a time",
};
static const char *const OPENERS[] = {
    "", "", "In short, ", "Meanwhile, ", "As a result, ", "Of course, ", "Note that ", "Also, ",
};
static const char *const REASONING_OPENERS[] = {
    "", "First, ", "Then ", "I think ", "Next, ", "So ",
};
static const char *const CODE_LINES[] = {
    "int answer = 42;",
    "printf(\"simulated\\n\");",
    "return tokens * price;",
};

void gw_sim_plan_add_step(gw_sim_plan *pb, gw_sim_step_kind kind, const char *data, size_t len)
{
    if (pb->err != CORE_OK) return;
    if (pb->nsteps == pb->cap) {
        size_t cap = pb->cap ? pb->cap * 2 : 64;
        gw_sim_step *steps = realloc(pb->steps, cap * sizeof(*steps));
        if (!steps) {
            pb->err = CORE_ENOMEM;
            return;
        }
        pb->steps = steps;
        pb->cap = cap;
    }
    if (len >= (1u << 29)) {
        pb->err = CORE_ETOOBIG;
        return;
    }
    size_t off = pb->plan->len;
    pb->err = buf_append(pb->plan, data, len);
    if (pb->err != CORE_OK) return;
    pb->steps[pb->nsteps++] = (gw_sim_step){(uint32_t)off, (uint32_t)len, (uint32_t)kind};
}

void gw_sim_prose_init(gw_sim_prose *g, gw_sim_step_kind kind, int64_t count, const char *intro,
                       bool code_block)
{
    memset(g, 0, sizeof(*g));
    g->kind = (uint8_t)kind;
    g->count = count;
    g->code_done = !code_block;
    /* The intro is the first sentence: no draws from the generator. */
    snprintf(g->sentence, sizeof(g->sentence), "%s", intro);
    g->sentences = 1;
    g->first_word = true;
    g->phase = GW_SIM_PROSE_WORDS;
}

/* The next sentence from the word lists. The draws are made one by one in
 * a fixed order: opener, subject, tail, object, verb. That odd order is the
 * one GCC gave the earlier single printf call (its arguments were evaluated
 * right to left), and tests pin the exact texts it produced. */
static void next_sentence(gw_sim_prose *g, uint64_t *rng)
{
    const char *opener =
        g->kind == GW_SIM_STEP_REASONING
            ? REASONING_OPENERS[gw_sim_rng_next(rng) % ARRAY_LEN(REASONING_OPENERS)]
            : OPENERS[gw_sim_rng_next(rng) % ARRAY_LEN(OPENERS)];
    const char *subject = SUBJECTS[gw_sim_rng_next(rng) % ARRAY_LEN(SUBJECTS)];
    const char *tail = TAILS[gw_sim_rng_next(rng) % ARRAY_LEN(TAILS)];
    const char *object = OBJECTS[gw_sim_rng_next(rng) % ARRAY_LEN(OBJECTS)];
    const char *verb = VERBS[gw_sim_rng_next(rng) % ARRAY_LEN(VERBS)];
    snprintf(g->sentence, sizeof(g->sentence), "%s%s %s %s%s.", opener, subject, verb, object,
             tail);
    if (!*opener) g->sentence[0] = (char)toupper((unsigned char)g->sentence[0]);
}

/* One word token of the current sentence into g->word: the space (or the
 * paragraph break) before it, and a full stop when the length cuts the
 * sentence short. */
static slice_t next_word(gw_sim_prose *g)
{
    const char *p = g->sentence + g->pos;
    const char *end = strchr(p, ' ');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t n = 0;
    if (g->first_word && g->paragraph) {
        memcpy(g->word, "\n\n", 2);
        n = 2;
    } else if (g->need_space) {
        g->word[n++] = ' ';
    }
    memcpy(g->word + n, p, len);
    n += len;
    g->first_word = false;
    g->need_space = true;
    p += len;
    while (*p == ' ')
        p++;
    g->pos = (uint16_t)(p - g->sentence);
    g->emitted++;
    if (g->emitted == g->count && *p) {
        /* Cut mid-sentence by the length: close it anyway. */
        char last = n ? g->word[n - 1] : '.';
        if (last != '.' && last != ',')
            g->word[n++] = '.';
        else if (last == ',')
            g->word[n - 1] = '.';
    }
    return (slice_t){g->word, n};
}

bool gw_sim_prose_next(gw_sim_prose *g, uint64_t *rng, slice_t *out)
{
    for (;;) {
        if (g->emitted >= g->count) return false;
        switch (g->phase) {
        case GW_SIM_PROSE_SENTENCE:
            next_sentence(g, rng);
            g->paragraph = g->sentences % 3 == 0;
            g->sentences++;
            g->pos = 0;
            g->first_word = true;
            g->phase = GW_SIM_PROSE_WORDS;
            /* One code block after the second sentence, when there is room. */
            if (!g->code_done && g->sentences == 3 && g->count - g->emitted >= 12) {
                g->code_line = (uint8_t)(gw_sim_rng_next(rng) % ARRAY_LEN(CODE_LINES));
                g->pos = 0;
                g->phase = GW_SIM_PROSE_CODE_OPEN;
            }
            continue;
        case GW_SIM_PROSE_CODE_OPEN:
            g->emitted++;
            g->phase = GW_SIM_PROSE_CODE_LINE;
            *out = SLICE_LIT("\n\n```c\n");
            return true;
        case GW_SIM_PROSE_CODE_LINE: {
            const char *line = CODE_LINES[g->code_line];
            const char *p = line + g->code_pos;
            if (!*p || g->emitted >= g->count - 1) {
                g->phase = GW_SIM_PROSE_CODE_CLOSE;
                continue;
            }
            const char *end = strchr(p + 1, ' ');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            g->code_pos = (uint16_t)(g->code_pos + len);
            g->emitted++;
            *out = (slice_t){p, len};
            return true;
        }
        case GW_SIM_PROSE_CODE_CLOSE:
            g->emitted++;
            g->code_done = true;
            g->paragraph = true;
            g->phase = GW_SIM_PROSE_WORDS;
            *out = SLICE_LIT("\n```");
            return true;
        case GW_SIM_PROSE_WORDS:
            if (!g->sentence[g->pos]) {
                g->phase = GW_SIM_PROSE_SENTENCE;
                continue;
            }
            *out = next_word(g);
            return true;
        }
    }
}

size_t gw_sim_reply_words(const char *reply)
{
    size_t n = 0;
    slice_t word;
    while (gw_sim_reply_next(&reply, &word))
        n++;
    return n;
}

/* reply=TEXT: one step per word, each with the whitespace before it. */
bool gw_sim_reply_next(const char **cursor, slice_t *out)
{
    const char *p = *cursor;
    if (!*p) return false;
    const char *q = p;
    while (*q == ' ' || *q == '\n' || *q == '\t')
        q++;
    while (*q && *q != ' ' && *q != '\n' && *q != '\t')
        q++;
    *out = (slice_t){p, (size_t)(q - p)};
    *cursor = q;
    return true;
}

/* ---- tool calls ---- */

static json_t *value_for_schema(json_t *schema, const char *name, uint64_t hash, int depth);

static const char *schema_type(json_t *schema)
{
    json_t *type = json_object_get(schema, "type");
    if (json_is_string(type)) return json_string_value(type);
    if (json_is_array(type)) {
        size_t i;
        json_t *t;
        json_array_foreach(type, i,
                           t) if (json_is_string(t) && strcmp(json_string_value(t), "null") !=
                                                           0) return json_string_value(t);
    }
    if (json_is_object(json_object_get(schema, "properties"))) return "object";
    return "string";
}

static json_t *object_for_schema(json_t *schema, uint64_t hash, int depth)
{
    json_t *obj = json_object();
    json_t *props = json_object_get(schema, "properties");
    if (!obj || !json_is_object(props) || depth >= SIM_MAX_SCHEMA_DEPTH) return obj;
    const char *key;
    json_t *sub;
    size_t n = 0;
    json_object_foreach(props, key, sub)
    {
        if (n++ >= SIM_MAX_PROPERTIES) break;
        json_t *v = value_for_schema(sub, key, gw_sim_fnv1a_str(hash, key), depth + 1);
        if (v) json_object_set_new(obj, key, v);
    }
    return obj;
}

static json_t *string_for_name(const char *name, uint64_t hash)
{
    static const char *const CITIES[] = {"Paris", "Lisbon", "Tokyo", "Nairobi", "Montreal"};
    const char *city = CITIES[hash % ARRAY_LEN(CITIES)];
    if (strstr(name, "city") || strstr(name, "location") || strstr(name, "place"))
        return json_string(city);
    if (strstr(name, "email")) return json_string("user@example.com");
    if (strstr(name, "date")) return json_string("2025-01-15");
    if (strstr(name, "url")) return json_string("https://example.com/simulated");
    if (strstr(name, "unit")) return json_string("celsius");
    char text[64];
    snprintf(text, sizeof(text), "simulated %s", *name ? name : "value");
    return json_string(text);
}

static json_t *value_for_schema(json_t *schema, const char *name, uint64_t hash, int depth)
{
    json_t *choices = json_object_get(schema, "enum");
    if (json_array_size(choices) > 0)
        return json_deep_copy(json_array_get(choices, hash % json_array_size(choices)));
    const char *type = schema_type(schema);
    if (strcmp(type, "integer") == 0) {
        int64_t lo = 1, hi = 100;
        json_t *min = json_object_get(schema, "minimum"), *max = json_object_get(schema, "maximum");
        if (json_is_integer(min)) lo = json_integer_value(min);
        if (json_is_integer(max) && json_integer_value(max) >= lo)
            hi = json_integer_value(max);
        else if (hi < lo)
            hi = lo + 99;
        uint64_t span = (uint64_t)(hi - lo) + 1;
        return json_integer(lo + (span ? (int64_t)(hash % span) : 0));
    }
    if (strcmp(type, "number") == 0) return json_real((double)(hash % 1000) / 10.0);
    if (strcmp(type, "boolean") == 0) return json_boolean(hash & 1);
    if (strcmp(type, "null") == 0) return json_null();
    if (strcmp(type, "array") == 0) {
        json_t *arr = json_array();
        if (arr && depth < SIM_MAX_SCHEMA_DEPTH)
            json_array_append_new(
                arr, value_for_schema(json_object_get(schema, "items"), name, hash, depth + 1));
        return arr;
    }
    if (strcmp(type, "object") == 0) return object_for_schema(schema, hash, depth);
    return string_for_name(name, hash);
}

json_t *gw_sim_tool_arguments(json_t *parameters, uint64_t hash)
{
    return object_for_schema(parameters, hash, 0);
}
