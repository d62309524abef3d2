/*
 * provider_simulator.c - the built-in offline provider (see
 * provider_simulator.h for the models and directives). A call is planned
 * in gw_sim_start: the directives are resolved, the answer is derived from an
 * FNV-1a hash of the model and the messages, and the output is a sequence of
 * "steps" (one text or reasoning token, or one tool-call event) of known
 * length. A tool call's steps are built there; prose and reply tokens are
 * generated one by one as the stream emits them, so an open stream holds a
 * few hundred bytes of generator state instead of its whole answer. A single
 * uv timer then walks a small state machine:
 *
 *   WAIT_FIRST --ttft--> (fault: ERROR, DONE) | START --stall--> STREAM
 *   STREAM: steps paced by tokens_per_s --> FINISH, USAGE, DONE
 *           (cut_after: USAGE, ERROR upstream_truncated, DONE)
 *
 * Nothing refers to the request after gw_sim_start returns, so the caller
 * may release it at once. The call frees itself through uv_close after DONE
 * or gw_sim_cancel; every emit is followed by a check for cancel and pause,
 * because the caller may do either from inside its emit callback. The words
 * and tool arguments themselves come from sim_answer.c.
 */
#include "provider_simulator.h"

#include "sim_answer.h"

#include "../core/buf.h"
#include "../core/log.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define SIM_MAX_OUTPUT_TOKENS 100000 /* ceiling on output_tokens / reasoning_tokens */
#define SIM_MAX_REPLY_BYTES   (64u << 10)
#define SIM_MAX_PLAN_BYTES    (8u << 20)
#define SIM_BATCH             32 /* steps per timer tick at most, then yield to the loop */
#define SIM_DEFAULT_RETRY_MS  1000

typedef struct {
    const char *name;
    int64_t ttft_ms;
    int64_t tokens_per_s;
    int64_t min_tokens, max_tokens;       /* default answer length range */
    int64_t min_reasoning, max_reasoning; /* 0 = no reasoning */
    bool calls_tools;
    bool code_blocks;
} sim_model;

static const sim_model SIM_MODELS[] = {
    {"sim-fast", 0, 0, 24, 40, 0, 0, false, false},
    {"sim-chat", 300, 40, 40, 60, 0, 0, false, true},
    {"sim-reasoning", 600, 60, 30, 50, 20, 32, false, false},
    {"sim-tools", 200, 50, 24, 40, 0, 0, true, false},
};

/* Resolved directives; -1 = not set. */
typedef struct {
    int64_t ttft_ms;
    int64_t tokens_per_s;
    int64_t output_tokens;
    int64_t reasoning_tokens;
    int64_t error_status;
    int64_t retry_after_ms;
    int64_t stall_ms;
    int64_t cut_after;
    int64_t fail_times;
    int64_t no_usage;
    int64_t garbage;
    char *reply; /* malloc'd, NULL when not set */
} sim_directives;

typedef enum { PH_WAIT_FIRST, PH_STALL, PH_STREAM, PH_CLOSED } sim_phase;

/* gw_tokens_estimate over everything fed so far, kept up to date piece by
 * piece (the estimate is max(bytes/4 rounded up in UTF-8 units, words)). The
 * pieces are whole words or whitespace, so no UTF-8 sequence is ever split. */
typedef struct {
    int64_t units, words;
    bool in_word;
} sim_token_count;

struct gw_sim_call {
    uv_timer_t timer;
    uv_loop_t *loop;
    gw_emit_fn emit;
    void *ud;

    /* The answer. A tool call is planned up front (a few steps); prose and
     * replies are generated step by step as the stream runs: step i is
     * reasoning while i < reasoning_steps, text after. */
    buf_t plan;         /* the model name; a tool call's id, name, arguments */
    gw_sim_step *steps; /* a tool call's steps; NULL otherwise */
    size_t nsteps;      /* every step of the answer, after max_tokens */
    size_t reasoning_steps;
    size_t text_count;  /* the text's full length (max_tokens may cut it) */
    gw_sim_prose prose; /* the reasoning, then the text */
    uint64_t rng;       /* the prose's generator, continued from planning */
    char *reply;        /* reply= directive (malloc'd), NULL for prose */
    const char *reply_cursor;
    bool text_code_block;
    char text_intro[96];
    sim_token_count reasoning_seen, text_seen; /* for estimated usage */
    uint32_t model_off, model_len;
    uint32_t tool_id_off, tool_id_len, tool_name_off, tool_name_len;
    uint32_t tool_args_off, tool_args_len;
    int64_t tool_tokens;
    gw_finish finish;
    int64_t input_tokens;
    char id[40];

    /* Faults, already filtered by fail_times. */
    int error_status; /* 0 = none */
    int64_t retry_after_ms;
    bool garbage;
    bool no_usage;
    int64_t cut_after; /* token steps before the cut; -1 = none */

    /* Timing, already multiplied by the speed factor. */
    uint64_t first_delay_ms;
    uint64_t stall_ms;
    double step_interval_ms; /* 0 = as fast as possible */

    /* Progress. */
    sim_phase phase;
    size_t next_step;
    size_t emitted_tokens;
    size_t emitted_reasoning;
    uint64_t pace_base_ms;
    size_t pace_base_step;
    uint64_t deadline_ms; /* when the timer would fire (for pause) */
    uint64_t remaining_ms;
    bool paused;
    bool in_tick;
    bool closing;
};

/* ------------------------------------------------------------------ config */

void gw_sim_config_from_env(gw_sim_config *cfg)
{
    *cfg = (gw_sim_config){.speed_factor = 1.0};
    const char *v = getenv("AIGW_SIM_SPEED");
    if (v && *v) {
        char *end;
        double speed = strtod(v, &end);
        if (*end == '\0' && speed >= 0 && isfinite(speed))
            cfg->speed_factor = speed;
        else
            log_warn("AIGW_SIM_SPEED is not a non-negative number; using 1");
    }
    int64_t n;
    v = getenv("AIGW_SIM_TTFT_MS");
    if (v && slice_to_i64(slice_from_cstr(v), &n) == CORE_OK && n <= UINT32_MAX)
        cfg->default_ttft_ms = (uint32_t)n;
    v = getenv("AIGW_SIM_TOKENS_PER_S");
    if (v && slice_to_i64(slice_from_cstr(v), &n) == CORE_OK && n <= UINT32_MAX)
        cfg->default_tokens_per_s = (uint32_t)n;
    v = getenv("AIGW_SIM_DEFAULTS");
    if (v && *v) {
        json_t *obj = json_loads(v, 0, NULL);
        if (json_is_object(obj))
            cfg->defaults = obj;
        else {
            json_decref(obj);
            log_warn("AIGW_SIM_DEFAULTS is not a JSON object; ignored");
        }
    }
}

void gw_sim_config_release(gw_sim_config *cfg)
{
    json_decref(cfg->defaults);
    cfg->defaults = NULL;
}

static const sim_model *model_find(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(SIM_MODELS); i++)
        if (strcmp(SIM_MODELS[i].name, name) == 0) return &SIM_MODELS[i];
    return NULL;
}

bool gw_sim_model_exists(const char *model)
{
    return model_find(model) != NULL;
}

/* ------------------------------------------------------------------ directives */

static void directives_init(sim_directives *d)
{
    *d = (sim_directives){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, NULL};
}

/* Decodes %XX escapes and '+' (as space) in place. */
static void url_decode(char *s)
{
    char *out = s;
    for (char *in = s; *in; in++) {
        if (*in == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
            char hex[3] = {in[1], in[2], 0};
            *out++ = (char)strtol(hex, NULL, 16);
            in += 2;
        } else if (*in == '+') {
            *out++ = ' ';
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

static bool value_to_i64(json_t *v, int64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e15) {
        *out = (int64_t)json_real_value(v);
        return true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? 1 : 0;
        return true;
    }
    if (json_is_string(v)) {
        slice_t s = slice_trim(slice_from_cstr(json_string_value(v)));
        if (slice_eq_cstr(s, "true")) {
            *out = 1;
            return true;
        }
        if (slice_eq_cstr(s, "false")) {
            *out = 0;
            return true;
        }
        return slice_to_i64(s, out) == CORE_OK;
    }
    return false;
}

/* Applies one key; unknown keys and malformed values are ignored (a typo in
 * a test directive must not break the call). url_escaped: inline values. */
static void directive_set(sim_directives *d, const char *key, json_t *value, bool url_escaped)
{
    static const struct {
        const char *key;
        size_t offset;
        int64_t max;
    } numeric[] = {
        {"ttft_ms", offsetof(sim_directives, ttft_ms), 3600000},
        {"tokens_per_s", offsetof(sim_directives, tokens_per_s), 1000000},
        {"output_tokens", offsetof(sim_directives, output_tokens), SIM_MAX_OUTPUT_TOKENS},
        {"reasoning_tokens", offsetof(sim_directives, reasoning_tokens), SIM_MAX_OUTPUT_TOKENS},
        {"error", offsetof(sim_directives, error_status), 599},
        {"retry_after_ms", offsetof(sim_directives, retry_after_ms), 3600000},
        {"stall_ms", offsetof(sim_directives, stall_ms), 3600000},
        {"cut_after", offsetof(sim_directives, cut_after), SIM_MAX_OUTPUT_TOKENS},
        {"fail_times", offsetof(sim_directives, fail_times), 1000000},
        {"no_usage", offsetof(sim_directives, no_usage), 1},
        {"garbage", offsetof(sim_directives, garbage), 1},
    };
    if (strcmp(key, "reply") == 0) {
        if (!json_is_string(value) || json_string_length(value) > SIM_MAX_REPLY_BYTES) return;
        char *copy = strdup(json_string_value(value));
        if (!copy) return;
        if (url_escaped) url_decode(copy);
        free(d->reply);
        d->reply = copy;
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(numeric); i++) {
        if (strcmp(key, numeric[i].key) != 0) continue;
        int64_t n;
        if (value_to_i64(value, &n))
            *(int64_t *)((char *)d + numeric[i].offset) = MIN(n, numeric[i].max);
        return;
    }
}

static void directives_apply_object(sim_directives *d, json_t *obj)
{
    if (!json_is_object(obj)) return;
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) directive_set(d, key, value, false);
}

static const char SIM_TAG_OPEN[] = "[[sim:";

/* Applies every "[[sim:k=v,...]]" tag in text and appends the text without
 * the tags to stripped (which may be NULL). */
static void directives_apply_inline(sim_directives *d, slice_t text, buf_t *stripped)
{
    size_t pos = 0;
    while (pos < text.len) {
        const char *open =
            memmem(text.ptr + pos, text.len - pos, SIM_TAG_OPEN, sizeof(SIM_TAG_OPEN) - 1);
        if (!open) break;
        size_t body_start = (size_t)(open - text.ptr) + sizeof(SIM_TAG_OPEN) - 1;
        const char *close = memmem(text.ptr + body_start, text.len - body_start, "]]", 2);
        if (!close) break;
        if (stripped) buf_append(stripped, text.ptr + pos, (size_t)(open - (text.ptr + pos)));
        slice_t body = {text.ptr + body_start, (size_t)(close - (text.ptr + body_start))};
        while (body.len > 0) {
            const char *comma = memchr(body.ptr, ',', body.len);
            slice_t pair = {body.ptr, comma ? (size_t)(comma - body.ptr) : body.len};
            const char *eq = memchr(pair.ptr, '=', pair.len);
            if (eq) {
                slice_t key = slice_trim((slice_t){pair.ptr, (size_t)(eq - pair.ptr)});
                slice_t value =
                    slice_trim((slice_t){eq + 1, pair.len - (size_t)(eq + 1 - pair.ptr)});
                char *key_z = slice_dup(key);
                json_t *value_json = json_stringn(value.ptr, value.len);
                if (key_z && value_json) directive_set(d, key_z, value_json, true);
                free(key_z);
                json_decref(value_json);
            }
            if (!comma) break;
            body.len -= pair.len + 1;
            body.ptr = comma + 1;
        }
        pos = (size_t)(close - text.ptr) + 2;
    }
    if (stripped && pos < text.len) buf_append(stripped, text.ptr + pos, text.len - pos);
}

/* The last message with role "user", or NULL. */
static json_t *last_user_message(json_t *messages)
{
    for (size_t i = json_array_size(messages); i > 0; i--) {
        json_t *msg = json_array_get(messages, i - 1);
        if (json_is_string(json_object_get(msg, "role")) &&
            strcmp(json_string_value(json_object_get(msg, "role")), "user") == 0)
            return msg;
    }
    return NULL;
}

static slice_t json_str_slice(json_t *v)
{
    return (slice_t){json_string_value(v), json_string_length(v)};
}

/* Hash of one message's content; for the last user message, the text with
 * the directive tags removed (and the tags applied to d). */
static uint64_t hash_content(uint64_t hash, json_t *content, sim_directives *d)
{
    buf_t stripped;
    buf_init(&stripped, 0);
    if (json_is_string(content)) {
        if (d) {
            directives_apply_inline(d, json_str_slice(content), &stripped);
            slice_t s = slice_trim(buf_slice(&stripped));
            hash = gw_sim_fnv1a(hash, s.ptr, s.len);
        } else {
            hash = gw_sim_fnv1a(hash, json_string_value(content), json_string_length(content));
        }
    } else if (json_is_array(content) && d) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part)
        {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text)) continue;
            buf_reset(&stripped);
            directives_apply_inline(d, json_str_slice(text), &stripped);
            slice_t s = slice_trim(buf_slice(&stripped));
            hash = gw_sim_fnv1a_str(gw_sim_fnv1a(hash, s.ptr, s.len), "");
        }
    } else if (content && !json_is_null(content)) {
        char *dump = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (dump) hash = gw_sim_fnv1a(hash, dump, strlen(dump));
        free(dump);
    }
    buf_free(&stripped);
    return (hash ^ 0xfeu) * GW_SIM_FNV_PRIME;
}

/* Resolves directives (defaults < request->simulate < inline tags) and
 * returns the answer hash of model + messages (tags stripped). */
static uint64_t resolve(const gw_sim_config *cfg, const gw_request *req, sim_directives *d)
{
    directives_apply_object(d, cfg ? cfg->defaults : NULL);
    directives_apply_object(d, req->simulate);
    uint64_t hash = gw_sim_fnv1a_str(GW_SIM_FNV_OFFSET, req->model ? req->model : "");
    json_t *last_user = last_user_message(req->messages);
    size_t i;
    json_t *msg;
    json_array_foreach(req->messages, i, msg)
    {
        json_t *role = json_object_get(msg, "role");
        hash = gw_sim_fnv1a_str(hash, json_is_string(role) ? json_string_value(role) : "");
        hash = hash_content(hash, json_object_get(msg, "content"), msg == last_user ? d : NULL);
    }
    return hash;
}

/* The tool the call will use: the one tool_choice names, else the first.
 * NULL when tools are absent or tool_choice is "none". */
static json_t *pick_tool(const gw_request *req)
{
    if (!json_is_array(req->tools) || json_array_size(req->tools) == 0) return NULL;
    if (json_is_string(req->tool_choice) &&
        strcmp(json_string_value(req->tool_choice), "none") == 0)
        return NULL;
    json_t *wanted = json_object_get(json_object_get(req->tool_choice, "function"), "name");
    size_t i;
    json_t *tool;
    json_array_foreach(req->tools, i, tool)
    {
        json_t *name = json_object_get(json_object_get(tool, "function"), "name");
        if (!json_is_string(name)) continue;
        if (!json_is_string(wanted) || json_equal(name, wanted)) return tool;
    }
    return NULL;
}

static void add_tool_call(gw_sim_call *call, gw_sim_plan *pb, json_t *tool, uint64_t hash)
{
    json_t *function = json_object_get(tool, "function");
    const char *name = json_string_value(json_object_get(function, "name"));
    json_t *args = gw_sim_tool_arguments(json_object_get(function, "parameters"), hash);
    char *args_text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (!args_text) {
        pb->err = CORE_ENOMEM;
        return;
    }
    char id[32];
    snprintf(id, sizeof(id), "call_sim%016llx", (unsigned long long)hash);
    call->tool_id_off = (uint32_t)call->plan.len;
    call->tool_id_len = (uint32_t)strlen(id);
    call->tool_name_off = call->tool_id_off + call->tool_id_len;
    call->tool_name_len = (uint32_t)strlen(name);
    if ((pb->err = buf_append_cstr(&call->plan, id)) != CORE_OK ||
        (pb->err = buf_append_cstr(&call->plan, name)) != CORE_OK) {
        free(args_text);
        return;
    }
    gw_sim_plan_add_step(pb, GW_SIM_STEP_TOOL_START, "", 0);

    size_t len = strlen(args_text);
    size_t pieces = MIN((size_t)(2 + hash % 2), MAX(len, (size_t)1));
    size_t start = 0;
    call->tool_args_off = (uint32_t)call->plan.len;
    for (size_t k = 1; k <= pieces; k++) {
        size_t end = k == pieces ? len : len * k / pieces;
        while (end < len && ((unsigned char)args_text[end] & 0xC0) == 0x80)
            end++; /* never split inside a UTF-8 sequence */
        if (end > start)
            gw_sim_plan_add_step(pb, GW_SIM_STEP_TOOL_ARGS, args_text + start, end - start);
        start = end;
    }
    call->tool_args_len = (uint32_t)len;
    gw_sim_plan_add_step(pb, GW_SIM_STEP_TOOL_END, "", 0);
    call->tool_tokens =
        gw_tokens_estimate(slice_from_cstr(name)) + gw_tokens_estimate((slice_t){args_text, len});
    free(args_text);
}

/* ------------------------------------------------------------------ planning */

static uint64_t scaled(int64_t ms, double speed)
{
    if (ms <= 0) return 0;
    double v = (double)ms * speed;
    return v >= 1e12 ? (uint64_t)1e12 : (uint64_t)llround(v);
}

static core_err plan_call(gw_sim_call *call, const gw_sim_config *cfg, const gw_request *req,
                          int attempt)
{
    sim_directives d;
    directives_init(&d);
    uint64_t hash = resolve(cfg, req, &d);
    uint64_t rng = hash;
    const sim_model *model = model_find(req->model);
    sim_model fallback = {req->model,
                          cfg ? cfg->default_ttft_ms : 0,
                          cfg ? cfg->default_tokens_per_s : 0,
                          24,
                          60,
                          0,
                          0,
                          false,
                          false};
    if (!model) model = &fallback;

    bool faults = d.fail_times < 0 || attempt < d.fail_times;
    call->error_status = faults && d.error_status > 0 ? (int)d.error_status : 0;
    call->retry_after_ms = d.retry_after_ms >= 0 ? d.retry_after_ms : -1;
    if (call->error_status == 429 && call->retry_after_ms < 0)
        call->retry_after_ms = SIM_DEFAULT_RETRY_MS;
    call->garbage = faults && d.garbage > 0;
    call->cut_after = faults ? d.cut_after : -1;
    call->no_usage = d.no_usage > 0;

    double speed = cfg && cfg->speed_factor > 0 ? cfg->speed_factor : 1.0;
    call->first_delay_ms = scaled(d.ttft_ms >= 0 ? d.ttft_ms : model->ttft_ms, speed);
    call->stall_ms = faults ? scaled(d.stall_ms, speed) : 0;
    int64_t tps = d.tokens_per_s >= 0 ? d.tokens_per_s : model->tokens_per_s;
    call->step_interval_ms = tps > 0 ? 1000.0 * speed / (double)tps : 0;

    random_id("simcmpl_", call->id, sizeof(call->id));
    call->input_tokens = gw_tokens_estimate_request(req);

    core_err err = CORE_OK;
    gw_sim_plan pb = {.plan = &call->plan};
    call->model_off = 0;
    call->model_len = (uint32_t)strlen(req->model ? req->model : "");
    if ((err = buf_append(&call->plan, req->model ? req->model : "", call->model_len)) != CORE_OK)
        goto out;

    json_t *tool = model->calls_tools ? pick_tool(req) : NULL;
    int64_t answer = d.output_tokens >= 0
                         ? d.output_tokens
                         : gw_sim_rng_range(&rng, model->min_tokens, model->max_tokens);
    int64_t reasoning = d.reasoning_tokens >= 0
                            ? d.reasoning_tokens
                            : gw_sim_rng_range(&rng, model->min_reasoning, model->max_reasoning);
    if (model->max_reasoning == 0 && d.reasoning_tokens < 0) reasoning = 0;
    call->finish = GW_FIN_STOP;
    if (tool) {
        add_tool_call(call, &pb, tool, hash);
        call->finish = GW_FIN_TOOL_CALLS;
        err = pb.err;
        call->steps = pb.steps;
        call->nsteps = pb.nsteps;
        goto out;
    }
    /* Prose: only the counts and the generators' seeds now. */
    call->rng = rng;
    call->reasoning_steps = (size_t)MAX(reasoning, 0);
    if (reasoning > 0)
        gw_sim_prose_init(&call->prose, GW_SIM_STEP_REASONING, reasoning,
                          "Let me think about this simulated question step by step.", false);
    size_t text_steps;
    if (d.reply) {
        call->reply = d.reply;
        d.reply = NULL;
        call->reply_cursor = call->reply;
        text_steps = gw_sim_reply_words(call->reply);
    } else {
        snprintf(call->text_intro, sizeof(call->text_intro), "This is a simulated reply from %s.",
                 model->name ? model->name : "the simulator");
        call->text_code_block = model->code_blocks && (hash >> 17) % 3 == 0;
        text_steps = (size_t)MAX(answer, 0);
    }
    call->text_count = text_steps;
    call->nsteps = call->reasoning_steps + text_steps;
    /* max_tokens caps reasoning + answer together, as OpenAI counts it. */
    if (req->max_tokens > 0 && call->nsteps > (uint64_t)req->max_tokens) {
        call->nsteps = (size_t)req->max_tokens;
        call->finish = GW_FIN_LENGTH;
    }
out:
    free(d.reply);
    return err;
}

/* ------------------------------------------------------------------ running */

static slice_t plan_slice(const gw_sim_call *call, uint32_t off, uint32_t len)
{
    return (slice_t){call->plan.data + off, len};
}

static bool emit(gw_sim_call *call, const gw_event *ev)
{
    call->emit(call->ud, ev);
    return !call->closing;
}

static void on_close(uv_handle_t *handle)
{
    gw_sim_call *call = handle->data;
    buf_free(&call->plan);
    free(call->steps);
    free(call->reply);
    free(call);
}

static void token_count_add(sim_token_count *tc, slice_t text)
{
    size_t i = 0;
    while (i < text.len) {
        unsigned char c = (unsigned char)text.ptr[i];
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (!space && !tc->in_word) tc->words++;
        tc->in_word = !space;
        size_t seq = 1;
        if (c >= 0xC2 && c <= 0xDF)
            seq = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            seq = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            seq = 4;
        if (seq > 1) {
            if (i + seq > text.len) seq = 1;
            for (size_t k = 1; k < seq; k++)
                if (((unsigned char)text.ptr[i + k] & 0xC0) != 0x80) seq = 1;
        }
        tc->units += seq == 1 ? 1 : seq == 2 ? 2 : 4;
        i += seq;
    }
}

static int64_t token_count_estimate(const sim_token_count *tc)
{
    int64_t by_size = (tc->units + 3) / 4;
    return by_size > tc->words ? by_size : tc->words;
}

/* Kind of step i (< nsteps) without producing it. */
static gw_sim_step_kind step_kind(const gw_sim_call *call, size_t i)
{
    if (call->steps) return (gw_sim_step_kind)call->steps[i].kind;
    return i < call->reasoning_steps ? GW_SIM_STEP_REASONING : GW_SIM_STEP_TEXT;
}

/* The bytes of the next prose or reply step (valid until the next one). */
static slice_t next_token(gw_sim_call *call)
{
    slice_t text = SLICE_NULL;
    if (call->next_step == call->reasoning_steps && !call->reply)
        gw_sim_prose_init(&call->prose, GW_SIM_STEP_TEXT, (int64_t)call->text_count,
                          call->text_intro, call->text_code_block);
    if (call->next_step >= call->reasoning_steps && call->reply) {
        if (!gw_sim_reply_next(&call->reply_cursor, &text)) text = SLICE_LIT("");
    } else if (!gw_sim_prose_next(&call->prose, &call->rng, &text)) {
        text = SLICE_LIT("");
    }
    return text;
}

static void close_call(gw_sim_call *call)
{
    call->phase = PH_CLOSED;
    uv_timer_stop(&call->timer);
    uv_close((uv_handle_t *)&call->timer, on_close);
}

/* DONE, then the call frees itself. */
static void emit_done(gw_sim_call *call)
{
    call->closing = true; /* a cancel from inside the DONE callback is a no-op */
    gw_event ev = {.type = GW_EV_DONE};
    call->emit(call->ud, &ev);
    close_call(call);
}

static void fault_error(int status, gw_error_info *info)
{
    info->http_status = status;
    info->retryable = false;
    switch (status) {
    case 400:
    case 422:
        info->code = GW_ERR_INVALID_REQUEST;
        break;
    case 401:
    case 403:
        info->code = GW_ERR_PROVIDER_AUTH;
        break;
    case 402:
        info->code = GW_ERR_PROVIDER_QUOTA;
        break;
    case 404:
        info->code = GW_ERR_MODEL_NOT_FOUND;
        break;
    case 408:
    case 504:
        info->code = GW_ERR_TIMEOUT;
        info->retryable = true;
        break;
    case 413:
        info->code = GW_ERR_PAYLOAD_TOO_LARGE;
        break;
    case 429:
        info->code = GW_ERR_RATE_LIMITED;
        info->retryable = true;
        break;
    case 503:
    case 529:
        info->code = GW_ERR_MODEL_UNAVAILABLE;
        info->retryable = true;
        break;
    default:
        info->code = GW_ERR_PROVIDER_ERROR;
        info->retryable = status >= 500;
        break;
    }
}

static void emit_usage(gw_sim_call *call, bool exact)
{
    gw_event ev = {.type = GW_EV_USAGE};
    ev.usage.tokens.input = call->input_tokens;
    ev.usage.provider_cost_pico = -1;
    ev.usage.exact = exact;
    size_t tool_done = call->next_step >= call->nsteps && call->tool_args_len ? 1 : 0;
    if (exact) {
        ev.usage.tokens.output =
            (int64_t)call->emitted_tokens + (tool_done ? call->tool_tokens : 0);
        ev.usage.tokens.reasoning = (int64_t)call->emitted_reasoning;
    } else {
        /* What a gateway would count locally from the bytes it saw. */
        int64_t reasoning = token_count_estimate(&call->reasoning_seen);
        int64_t text = token_count_estimate(&call->text_seen);
        ev.usage.tokens.reasoning = reasoning;
        ev.usage.tokens.output = reasoning + text + (tool_done ? call->tool_tokens : 0);
    }
    emit(call, &ev);
}

static void on_timer(uv_timer_t *timer);

/* Arms the timer, or (paused) remembers the delay for gw_sim_resume. */
static void schedule(gw_sim_call *call, uint64_t delay_ms)
{
    call->deadline_ms = uv_now(call->loop) + delay_ms;
    if (call->paused)
        call->remaining_ms = delay_ms;
    else
        uv_timer_start(&call->timer, on_timer, delay_ms, 0);
}

/* Emits one step; false when the call was cancelled meanwhile. */
static bool emit_step(gw_sim_call *call)
{
    gw_event ev = {.tool_index = 0};
    if (!call->steps) {
        bool reasoning = call->next_step < call->reasoning_steps;
        ev.type = reasoning ? GW_EV_REASONING : GW_EV_TEXT;
        ev.text = next_token(call);
        call->next_step++;
        call->emitted_tokens++;
        if (reasoning) call->emitted_reasoning++;
        token_count_add(reasoning ? &call->reasoning_seen : &call->text_seen, ev.text);
        return emit(call, &ev);
    }
    const gw_sim_step *s = &call->steps[call->next_step++];
    switch (s->kind) {
    case GW_SIM_STEP_REASONING:
    case GW_SIM_STEP_TEXT:
        /* A tool call's plan has none. */
        break;
    case GW_SIM_STEP_TOOL_START:
        ev.type = GW_EV_TOOL_CALL_START;
        ev.tool_id = plan_slice(call, call->tool_id_off, call->tool_id_len);
        ev.tool_name = plan_slice(call, call->tool_name_off, call->tool_name_len);
        break;
    case GW_SIM_STEP_TOOL_ARGS:
        ev.type = GW_EV_TOOL_ARGS;
        ev.text = plan_slice(call, s->off, s->len);
        break;
    case GW_SIM_STEP_TOOL_END:
        ev.type = GW_EV_TOOL_CALL_END;
        ev.text = plan_slice(call, call->tool_args_off, call->tool_args_len);
        ev.args_valid_json = true;
        break;
    }
    return emit(call, &ev);
}

/* End of the stream: the clean tail, or the truncation tail. */
static void stream_end(gw_sim_call *call, bool truncated)
{
    if (truncated) {
        emit_usage(call, false);
        if (call->closing) return;
        gw_event ev = {.type = GW_EV_ERROR};
        ev.error = (gw_error_info){.code = GW_ERR_UPSTREAM_TRUNCATED,
                                   .retryable = true,
                                   .retry_after_ms = -1,
                                   .message = SLICE_LIT("simulated stream cut (cut_after)"),
                                   .provider_code = SLICE_LIT("simulated_cut")};
        if (!emit(call, &ev)) return;
    } else {
        gw_event ev = {.type = GW_EV_FINISH, .finish = call->finish};
        ev.finish_raw = slice_from_cstr(gw_finish_name(call->finish));
        if (!emit(call, &ev)) return;
        emit_usage(call, !call->no_usage);
        if (call->closing) return;
    }
    emit_done(call);
}

static void stream_tick(gw_sim_call *call)
{
    uint64_t now = uv_now(call->loop);
    size_t due = call->nsteps;
    if (call->step_interval_ms > 0) {
        double elapsed = (double)(now - call->pace_base_ms);
        due = call->pace_base_step + 1 + (size_t)(elapsed / call->step_interval_ms);
    }
    size_t batch = 0;
    for (;;) {
        if (call->paused) return; /* gw_sim_resume schedules the rest */
        if (call->cut_after >= 0 && call->emitted_tokens >= (size_t)call->cut_after &&
            (call->next_step >= call->nsteps ||
             step_kind(call, call->next_step) == GW_SIM_STEP_TEXT ||
             step_kind(call, call->next_step) == GW_SIM_STEP_REASONING)) {
            stream_end(call, true);
            return;
        }
        if (call->next_step >= call->nsteps) {
            stream_end(call, call->cut_after >= 0);
            return;
        }
        if (call->next_step >= due || batch >= SIM_BATCH) break;
        if (!emit_step(call)) return;
        batch++;
    }
    /* libuv 1.44 would run a 0 ms timer re-armed in its own callback in the
     * same pass, starving I/O: always wait at least 1 ms between batches. */
    uint64_t delay = 1;
    if (call->step_interval_ms > 0 && call->next_step >= due) {
        double next_at = (double)(call->next_step - call->pace_base_step) * call->step_interval_ms;
        double wait = next_at - (double)(now - call->pace_base_ms);
        if (wait > 1) delay = (uint64_t)ceil(wait);
    }
    schedule(call, delay);
}

static void stream_begin(gw_sim_call *call)
{
    call->phase = PH_STREAM;
    call->pace_base_ms = uv_now(call->loop);
    call->pace_base_step = call->next_step;
    stream_tick(call);
}

/* error=STATUS or garbage=1: an ERROR as the adapters would map it, then DONE. */
static void emit_fault(gw_sim_call *call)
{
    char message[64];
    gw_event ev = {.type = GW_EV_ERROR};
    if (call->garbage) {
        ev.error =
            (gw_error_info){.code = GW_ERR_PROVIDER_ERROR,
                            .http_status = 200,
                            .retryable = true,
                            .retry_after_ms = -1,
                            .message = SLICE_LIT("simulated upstream sent a malformed response"),
                            .provider_code = SLICE_LIT("simulated_garbage")};
    } else {
        snprintf(message, sizeof(message), "simulated upstream error (HTTP %d)",
                 call->error_status);
        fault_error(call->error_status, &ev.error);
        ev.error.retry_after_ms = call->error_status == 429 ? call->retry_after_ms : -1;
        ev.error.message = slice_from_cstr(message);
        ev.error.provider_code = SLICE_LIT("simulated_error");
    }
    if (emit(call, &ev)) emit_done(call);
}

static void on_timer(uv_timer_t *timer)
{
    gw_sim_call *call = timer->data;
    if (call->closing || call->paused) return;
    call->in_tick = true;
    switch (call->phase) {
    case PH_WAIT_FIRST:
        if (call->error_status || call->garbage) {
            emit_fault(call);
            break;
        }
        gw_event start = {.type = GW_EV_START};
        start.id = slice_from_cstr(call->id);
        start.model = plan_slice(call, call->model_off, call->model_len);
        if (!emit(call, &start)) break;
        if (call->stall_ms > 0) {
            call->phase = PH_STALL;
            schedule(call, call->stall_ms);
            break;
        }
        stream_begin(call);
        break;
    case PH_STALL:
        stream_begin(call);
        break;
    case PH_STREAM:
        stream_tick(call);
        break;
    case PH_CLOSED:
        break;
    }
    call->in_tick = false;
}

/* The plan grew by doubling; a stream holds it for its whole life (10,000
 * open streams is a target), so give the slack back. */
static void shrink_plan(gw_sim_call *call)
{
    if (call->steps && call->nsteps) {
        gw_sim_step *steps = realloc(call->steps, call->nsteps * sizeof(*steps));
        if (steps) call->steps = steps;
    }
    if (call->plan.data && call->plan.cap > call->plan.len + 1) {
        char *data = realloc(call->plan.data, call->plan.len + 1);
        if (data) {
            call->plan.data = data;
            call->plan.cap = call->plan.len + 1;
        }
    }
}

core_err gw_sim_start(uv_loop_t *loop, const gw_sim_config *cfg, const gw_request *req, int attempt,
                      gw_emit_fn emit_fn, void *ud, gw_sim_call **out)
{
    if (!loop || !req || !emit_fn || !out) return CORE_EINVAL;
    gw_sim_call *call = calloc(1, sizeof(*call));
    if (!call) return CORE_ENOMEM;
    call->loop = loop;
    call->emit = emit_fn;
    call->ud = ud;
    buf_init(&call->plan, SIM_MAX_PLAN_BYTES);
    core_err err = plan_call(call, cfg, req, attempt);
    if (err != CORE_OK) {
        buf_free(&call->plan);
        free(call->steps);
        free(call->reply);
        free(call);
        return err;
    }
    shrink_plan(call);
    uv_timer_init(loop, &call->timer);
    call->timer.data = call;
    call->phase = PH_WAIT_FIRST;
    /* Even with no delay the first event comes from a timer callback, never
     * from inside this function. */
    call->deadline_ms = uv_now(loop) + call->first_delay_ms;
    uv_timer_start(&call->timer, on_timer, call->first_delay_ms, 0);
    *out = call;
    return CORE_OK;
}

void gw_sim_cancel(gw_sim_call *call)
{
    if (!call || call->closing) return;
    call->closing = true;
    close_call(call);
}

void gw_sim_pause(gw_sim_call *call)
{
    if (!call || call->closing || call->paused) return;
    call->paused = true;
    uint64_t now = uv_now(call->loop);
    call->remaining_ms = call->deadline_ms > now ? call->deadline_ms - now : 0;
    uv_timer_stop(&call->timer);
}

void gw_sim_resume(gw_sim_call *call)
{
    if (!call || call->closing || !call->paused) return;
    call->paused = false;
    if (call->phase == PH_STREAM) {
        /* Pace from now on, without a burst to catch up the paused time. */
        call->pace_base_ms = uv_now(call->loop);
        call->pace_base_step = call->next_step;
        if (call->in_tick) return; /* the running tick goes on and schedules itself */
        schedule(call, 0);
        return;
    }
    if (call->in_tick) return;
    schedule(call, call->remaining_ms);
}
