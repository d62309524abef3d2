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

/* Emits up to `count` word tokens of generated prose as steps of `kind`:
 * an intro sentence, then sentences from the word lists, with a paragraph
 * break every few sentences and (code_block) one short fenced code block.
 * The last token ends with a full stop when the sentence was cut short. */
void gw_sim_plan_add_prose(gw_sim_plan *pb, gw_sim_step_kind kind, int64_t count, const char *intro,
                           uint64_t *rng, bool code_block)
{
    buf_t sentence, word;
    buf_init(&sentence, 0);
    buf_init(&word, 0);
    int64_t emitted = 0;
    int sentences = 0;
    bool code_done = !code_block;
    bool need_space = false;
    while (emitted < count && pb->err == CORE_OK) {
        buf_reset(&sentence);
        if (sentences == 0) {
            buf_append_cstr(&sentence, intro);
        } else {
            const char *opener =
                kind == GW_SIM_STEP_REASONING
                    ? REASONING_OPENERS[gw_sim_rng_next(rng) % ARRAY_LEN(REASONING_OPENERS)]
                    : OPENERS[gw_sim_rng_next(rng) % ARRAY_LEN(OPENERS)];
            const char *subject = SUBJECTS[gw_sim_rng_next(rng) % ARRAY_LEN(SUBJECTS)];
            buf_printf(&sentence, "%s%s %s %s%s.", opener, subject,
                       VERBS[gw_sim_rng_next(rng) % ARRAY_LEN(VERBS)],
                       OBJECTS[gw_sim_rng_next(rng) % ARRAY_LEN(OBJECTS)],
                       TAILS[gw_sim_rng_next(rng) % ARRAY_LEN(TAILS)]);
            if (sentence.len && !*opener)
                sentence.data[0] = (char)toupper((unsigned char)sentence.data[0]);
        }
        bool paragraph = sentences > 0 && sentences % 3 == 0;
        sentences++;
        /* One code block after the second sentence, when there is room. */
        if (!code_done && sentences == 3 && count - emitted >= 12) {
            const char *line = CODE_LINES[gw_sim_rng_next(rng) % ARRAY_LEN(CODE_LINES)];
            gw_sim_plan_add_step(pb, kind, "\n\n```c\n", 7);
            emitted++;
            const char *p = line;
            while (*p && emitted < count - 1) {
                const char *end = strchr(p + 1, ' ');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                gw_sim_plan_add_step(pb, kind, p, len);
                emitted++;
                p += len;
            }
            gw_sim_plan_add_step(pb, kind, "\n```", 4);
            emitted++;
            code_done = true;
            paragraph = true;
        }
        const char *p = sentence.data ? sentence.data : "";
        bool first_word = true;
        while (*p && emitted < count) {
            const char *end = strchr(p, ' ');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            buf_reset(&word);
            if (first_word && paragraph)
                buf_append_cstr(&word, "\n\n");
            else if (need_space)
                buf_append_char(&word, ' ');
            buf_append(&word, p, len);
            first_word = false;
            need_space = true;
            p += len;
            while (*p == ' ')
                p++;
            emitted++;
            if (emitted == count && *p) {
                /* Cut mid-sentence by the length: close it anyway. */
                char last = word.len ? word.data[word.len - 1] : '.';
                if (last != '.' && last != ',')
                    buf_append_char(&word, '.');
                else if (last == ',')
                    word.data[word.len - 1] = '.';
            }
            gw_sim_plan_add_step(pb, kind, word.data, word.len);
        }
    }
    buf_free(&sentence);
    buf_free(&word);
}

/* reply=TEXT: one step per word, each with the whitespace before it. */
void gw_sim_plan_add_reply(gw_sim_plan *pb, const char *reply)
{
    const char *p = reply;
    while (*p) {
        const char *q = p;
        while (*q == ' ' || *q == '\n' || *q == '\t')
            q++;
        while (*q && *q != ' ' && *q != '\n' && *q != '\t')
            q++;
        gw_sim_plan_add_step(pb, GW_SIM_STEP_TEXT, p, (size_t)(q - p));
        p = q;
    }
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
