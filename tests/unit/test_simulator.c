/*
 * test_simulator.c - the built-in simulator provider
 * (src/gateway/provider_simulator.c) on a real uv loop: exact event
 * sequences per model and per fault, determinism, directive priority,
 * timing with the speed factor, cancel and pause/resume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "gateway/provider_simulator.h"

#define MAX_EVENTS 32768

typedef struct {
    uv_loop_t *loop;
    gw_sim_call *call;
    size_t n;
    gw_ev_type types[MAX_EVENTS];
    uint64_t at_ms[MAX_EVENTS];
    buf_t text, reasoning, args, tool_end;
    char tool_name[64], tool_id[64], start_model[64];
    size_t text_events, reasoning_events, args_events;
    gw_usage usage;
    gw_finish finish;
    gw_error_info error;
    char error_message[128];
    bool done;
    /* actions taken from inside the emit callback */
    size_t cancel_after_text; /* 0 = never */
    size_t pause_after_text;  /* 0 = never */
    bool paused_once;
} recorder;

static void recorder_init(recorder *r, uv_loop_t *loop)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    buf_init(&r->text, 0);
    buf_init(&r->reasoning, 0);
    buf_init(&r->args, 0);
    buf_init(&r->tool_end, 0);
}

static void recorder_free(recorder *r)
{
    buf_free(&r->text);
    buf_free(&r->reasoning);
    buf_free(&r->args);
    buf_free(&r->tool_end);
}

static void copy_slice(char *dst, size_t size, slice_t s)
{
    snprintf(dst, size, "%.*s", (int)s.len, s.ptr);
}

static void on_event(void *ud, const gw_event *ev)
{
    recorder *r = ud;
    assert_false(r->done); /* nothing after DONE */
    assert_true(r->n < MAX_EVENTS);
    r->types[r->n] = ev->type;
    r->at_ms[r->n] = uv_now(r->loop);
    r->n++;
    switch (ev->type) {
    case GW_EV_START:
        copy_slice(r->start_model, sizeof(r->start_model), ev->model);
        assert_true(ev->id.len > 0);
        break;
    case GW_EV_TEXT:
        buf_append_slice(&r->text, ev->text);
        r->text_events++;
        break;
    case GW_EV_REASONING:
        buf_append_slice(&r->reasoning, ev->text);
        r->reasoning_events++;
        break;
    case GW_EV_TOOL_CALL_START:
        assert_int_equal(ev->tool_index, 0);
        copy_slice(r->tool_name, sizeof(r->tool_name), ev->tool_name);
        copy_slice(r->tool_id, sizeof(r->tool_id), ev->tool_id);
        break;
    case GW_EV_TOOL_ARGS:
        buf_append_slice(&r->args, ev->text);
        r->args_events++;
        break;
    case GW_EV_TOOL_CALL_END:
        assert_true(ev->args_valid_json);
        buf_append_slice(&r->tool_end, ev->text);
        break;
    case GW_EV_USAGE:
        r->usage = ev->usage;
        break;
    case GW_EV_FINISH:
        r->finish = ev->finish;
        break;
    case GW_EV_ERROR:
        r->error = ev->error;
        copy_slice(r->error_message, sizeof(r->error_message), ev->error.message);
        r->error.message = SLICE_NULL;
        r->error.provider_code = SLICE_NULL;
        break;
    case GW_EV_DONE:
        r->done = true;
        break;
    }
    if (ev->type == GW_EV_TEXT && r->cancel_after_text && r->text_events == r->cancel_after_text)
        gw_sim_cancel(r->call);
    if (ev->type == GW_EV_TEXT && r->pause_after_text && r->text_events == r->pause_after_text &&
        !r->paused_once) {
        r->paused_once = true;
        gw_sim_pause(r->call);
    }
}

static gw_request make_req(const char *model, const char *user_text)
{
    gw_request req = {0};
    req.model = (char *)model;
    req.messages = json_pack("[{s:s,s:s}]", "role", "user", "content", user_text);
    assert_non_null(req.messages);
    return req;
}

static gw_sim_config fast_cfg(void)
{
    return (gw_sim_config){.speed_factor = 0.01};
}

/* Runs one simulated call to completion (or cancel) on a fresh loop. */
static void run_call(recorder *r, const gw_sim_config *cfg, gw_request *req, int attempt)
{
    uv_loop_t *loop = r->loop;
    assert_int_equal(gw_sim_start(loop, cfg, req, attempt, on_event, r, &r->call), CORE_OK);
    assert_int_equal(r->n, 0); /* never from inside gw_sim_start */
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

/* Checks the whole sequence against a pattern: one letter per event.
 * S start, T text, R reasoning, C tool start, A tool args, E tool end,
 * U usage, F finish, X error, D done; '*' after a letter = one or more. */
static void assert_sequence(const recorder *r, const char *pattern)
{
    static const char letters[] = {'S', 'T', 'R', 'C', 'A', 'E', 'U', 'F', 'X', 'D'};
    char got[MAX_EVENTS + 1];
    for (size_t i = 0; i < r->n; i++)
        got[i] = letters[r->types[i]];
    got[r->n] = '\0';
    size_t gi = 0;
    for (const char *p = pattern; *p; p++) {
        bool many = p[1] == '*';
        if (gi >= r->n || got[gi] != *p) fail_msg("sequence %s does not match %s", got, pattern);
        gi++;
        if (many) {
            while (gi < r->n && got[gi] == *p)
                gi++;
            p++;
        }
    }
    if (gi != r->n) fail_msg("sequence %s does not match %s (trailing)", got, pattern);
}

typedef struct {
    uv_loop_t loop;
    recorder r;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    recorder_init(&f->r, &f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    recorder_free(&f->r);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle was closed */
    free(f);
    return 0;
}

static void reset(fixture *f)
{
    recorder_free(&f->r);
    recorder_init(&f->r, &f->loop);
}

static void test_fast_sequence(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-fast", "Hello there");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    assert_string_equal(f->r.start_model, "sim-fast");
    assert_true(f->r.text_events >= 24 && f->r.text_events <= 40);
    assert_non_null(strstr(f->r.text.data, "simulated reply"));
    assert_int_equal(f->r.finish, GW_FIN_STOP);
    assert_true(f->r.usage.exact);
    assert_int_equal(f->r.usage.tokens.output, (int64_t)f->r.text_events);
    assert_int_equal(f->r.usage.tokens.reasoning, 0);
    assert_int_equal(f->r.usage.tokens.input, gw_tokens_estimate_request(&req));
    assert_true(f->r.usage.tokens.input > 0);
    /* readable: ends a sentence, no double spaces */
    assert_int_equal(f->r.text.data[f->r.text.len - 1], '.');
    assert_null(strstr(f->r.text.data, "  "));
    gw_request_release(&req);
}

static void test_determinism(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "What is the weather like?");
    run_call(&f->r, &cfg, &req, 0);
    char *first = strdup(f->r.text.data);
    reset(f);
    run_call(&f->r, &cfg, &req, 0);
    assert_string_equal(first, f->r.text.data);
    gw_request_release(&req);

    /* Directive tags do not change the answer. */
    reset(f);
    req = make_req("sim-chat", "What is the weather like? [[sim:tokens_per_s=0]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_string_equal(first, f->r.text.data);
    gw_request_release(&req);

    /* Different input, different answer; different model, different answer. */
    reset(f);
    req = make_req("sim-chat", "What is the time?");
    run_call(&f->r, &cfg, &req, 0);
    assert_string_not_equal(first, f->r.text.data);
    gw_request_release(&req);
    reset(f);
    req = make_req("sim-fast", "What is the weather like?");
    run_call(&f->r, &cfg, &req, 0);
    assert_string_not_equal(first, f->r.text.data);
    assert_non_null(strstr(f->r.text.data, "sim-fast"));
    gw_request_release(&req);
    free(first);
}

static void test_chat_code_block(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    int with_code = 0;
    for (int i = 0; i < 12; i++) {
        char question[32];
        snprintf(question, sizeof(question), "question %d", i);
        gw_request req = make_req("sim-chat", question);
        reset(f);
        run_call(&f->r, &cfg, &req, 0);
        assert_sequence(&f->r, "ST*FUD");
        assert_true(f->r.text_events >= 40 && f->r.text_events <= 60);
        const char *fence = strstr(f->r.text.data, "```");
        if (fence) {
            with_code++;
            assert_non_null(strstr(fence + 3, "\n```")); /* the fence is closed */
        }
        gw_request_release(&req);
    }
    assert_true(with_code > 0 && with_code < 12);
}

static void test_reasoning(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-reasoning", "Why is the sky blue?");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "SR*T*FUD");
    assert_true(f->r.reasoning_events >= 20 && f->r.reasoning_events <= 32);
    assert_true(f->r.text_events >= 30 && f->r.text_events <= 50);
    assert_int_equal(f->r.usage.tokens.reasoning, (int64_t)f->r.reasoning_events);
    assert_int_equal(f->r.usage.tokens.output, (int64_t)(f->r.reasoning_events + f->r.text_events));
    assert_true(f->r.usage.exact);
    gw_request_release(&req);
}

static void test_tools(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-tools", "Weather in Paris?");
    req.tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                           "\"parameters\":{\"type\":\"object\",\"properties\":{"
                           "\"city\":{\"type\":\"string\"},"
                           "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7},"
                           "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"kelvin\"]},"
                           "\"hourly\":{\"type\":\"boolean\"},"
                           "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
                           "\"required\":[\"city\"]}}},"
                           "{\"type\":\"function\",\"function\":{\"name\":\"other\"}}]",
                           0, NULL);
    assert_non_null(req.tools);
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "SCA*EFUD");
    assert_true(f->r.args_events >= 2 && f->r.args_events <= 3);
    assert_string_equal(f->r.tool_name, "get_weather");
    assert_true(strncmp(f->r.tool_id, "call_", 5) == 0);
    assert_string_equal(f->r.args.data, f->r.tool_end.data);
    json_t *args = json_loads(f->r.args.data, 0, NULL);
    assert_non_null(args);
    assert_true(json_is_string(json_object_get(args, "city")));
    json_int_t days = json_integer_value(json_object_get(args, "days"));
    assert_true(days >= 1 && days <= 7);
    const char *unit = json_string_value(json_object_get(args, "unit"));
    assert_true(strcmp(unit, "celsius") == 0 || strcmp(unit, "kelvin") == 0);
    assert_true(json_is_boolean(json_object_get(args, "hourly")));
    assert_int_equal(json_array_size(json_object_get(args, "tags")), 1);
    json_decref(args);
    assert_int_equal(f->r.finish, GW_FIN_TOOL_CALLS);
    assert_true(f->r.usage.tokens.output > 0);

    /* tool_choice names the second tool (no parameters: empty object). */
    reset(f);
    req.tool_choice = json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", "other");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "SCA*EFUD");
    assert_string_equal(f->r.tool_name, "other");
    assert_string_equal(f->r.tool_end.data, "{}");

    /* tool_choice "none": text. */
    reset(f);
    json_decref(req.tool_choice);
    req.tool_choice = json_string("none");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    gw_request_release(&req);

    /* No tools: text. */
    reset(f);
    req = make_req("sim-tools", "Weather in Paris?");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    assert_int_equal(f->r.finish, GW_FIN_STOP);
    gw_request_release(&req);
}

static void test_max_tokens(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "Tell me a long story");
    req.max_tokens = 5;
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTTTTFUD");
    assert_int_equal(f->r.finish, GW_FIN_LENGTH);
    assert_int_equal(f->r.usage.tokens.output, 5);
    gw_request_release(&req);

    /* Reasoning counts against max_tokens too. */
    reset(f);
    req = make_req("sim-reasoning", "Think hard");
    req.max_tokens = 25;
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.reasoning_events + f->r.text_events, 25);
    assert_int_equal(f->r.finish, GW_FIN_LENGTH);
    assert_int_equal(f->r.usage.tokens.output, 25);
    gw_request_release(&req);
}

/* Exact texts recorded from the generator that planned whole answers up
 * front; the step-by-step generator must say the same, also when max_tokens
 * cuts a sentence (no full stop then: the cut is not the answer's end) and
 * across a code block and the reasoning-to-text switch. */
static void test_pinned_texts(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "hello variant 1");
    req.max_tokens = 33;
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.finish, GW_FIN_LENGTH);
    assert_string_equal(f->r.text.data,
                        "This is a simulated reply from sim-chat. The model describes a steady "
                        "stream of tokens with deterministic timing.\n\n```c\nint answer = "
                        "42;\n```\n\nThe simulator reports the cost of every call.\n\nMeanwhile,");
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-reasoning", "Tell me a long story variant 1");
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.finish, GW_FIN_STOP);
    assert_string_equal(f->r.reasoning.data,
                        "Let me think about this simulated question step by step. I think the "
                        "stream protects the cost of every call for your tests. I think the "
                        "router reports.");
    assert_string_equal(
        f->r.text.data,
        "This is a simulated reply from sim-reasoning. In short, a careful plan "
        "tracks a steady stream of tokens with deterministic timing. As a result, "
        "a good default follows the answer you asked for one token at a "
        "time.\n\nAlso, the gateway shapes a clear and useful summary as expected.");
    assert_int_equal(f->r.usage.tokens.output, 77);
    assert_int_equal(f->r.usage.tokens.reasoning, 28);
    gw_request_release(&req);
}

/* A long answer: every token generated on the way, none stored. */
static void test_long_answer_streams(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-fast", "x [[sim:output_tokens=20000,no_usage=1]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.text_events, 20000);
    assert_int_equal(f->r.usage.tokens.output, gw_tokens_estimate(buf_slice(&f->r.text)));
    /* Ends a sentence, with a full stop. */
    assert_int_equal(f->r.text.data[f->r.text.len - 1], '.');
    gw_request_release(&req);
}

static void test_error_statuses(void **state)
{
    fixture *f = *state;
    static const struct {
        int status;
        gw_err code;
        bool retryable;
    } cases[] = {
        {429, GW_ERR_RATE_LIMITED, true},     {500, GW_ERR_PROVIDER_ERROR, true},
        {502, GW_ERR_PROVIDER_ERROR, true},   {503, GW_ERR_MODEL_UNAVAILABLE, true},
        {400, GW_ERR_INVALID_REQUEST, false}, {401, GW_ERR_PROVIDER_AUTH, false},
        {402, GW_ERR_PROVIDER_QUOTA, false},  {404, GW_ERR_MODEL_NOT_FOUND, false},
        {504, GW_ERR_TIMEOUT, true},
    };
    gw_sim_config cfg = fast_cfg();
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        reset(f);
        char text[64];
        snprintf(text, sizeof(text), "hi [[sim:error=%d]]", cases[i].status);
        gw_request req = make_req("sim-chat", text);
        run_call(&f->r, &cfg, &req, 0);
        assert_sequence(&f->r, "XD");
        assert_int_equal(f->r.error.code, cases[i].code);
        assert_int_equal(f->r.error.http_status, cases[i].status);
        assert_int_equal(f->r.error.retryable, cases[i].retryable);
        assert_int_equal(f->r.error.retry_after_ms, cases[i].status == 429 ? 1000 : -1);
        assert_non_null(strstr(f->r.error_message, "simulated"));
        gw_request_release(&req);
    }
}

static void test_fail_times(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-fast", "retry me");
    req.simulate = json_pack("{s:i,s:i}", "error", 503, "fail_times", 2);
    for (int attempt = 0; attempt < 3; attempt++) {
        reset(f);
        run_call(&f->r, &cfg, &req, attempt);
        if (attempt < 2) {
            assert_sequence(&f->r, "XD");
            assert_int_equal(f->r.error.code, GW_ERR_MODEL_UNAVAILABLE);
        } else {
            assert_sequence(&f->r, "ST*FUD");
        }
    }
    gw_request_release(&req);
}

static void test_garbage_cut_no_usage(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "x [[sim:garbage=1]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "XD");
    assert_int_equal(f->r.error.code, GW_ERR_PROVIDER_ERROR);
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-chat", "x [[sim:cut_after=5]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTTTTUXD");
    assert_int_equal(f->r.error.code, GW_ERR_UPSTREAM_TRUNCATED);
    assert_false(f->r.usage.exact); /* estimated locally, as for an upstream that sent none */
    assert_int_equal(f->r.usage.tokens.output, gw_tokens_estimate(buf_slice(&f->r.text)));
    gw_request_release(&req);

    /* Cut in the reasoning. */
    reset(f);
    req = make_req("sim-reasoning", "x [[sim:cut_after=3]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "SRRRUXD");
    assert_int_equal(f->r.usage.tokens.reasoning, gw_tokens_estimate(buf_slice(&f->r.reasoning)));
    assert_int_equal(f->r.usage.tokens.output, f->r.usage.tokens.reasoning);
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-chat", "x [[sim:no_usage=1,output_tokens=12]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    assert_int_equal(f->r.text_events, 12);
    assert_false(f->r.usage.exact);
    assert_int_equal(f->r.usage.tokens.output, gw_tokens_estimate(buf_slice(&f->r.text)));
    assert_int_equal(f->r.usage.tokens.input, gw_tokens_estimate_request(&req));
    gw_request_release(&req);
}

static void test_directive_priority(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    cfg.defaults = json_pack("{s:i}", "output_tokens", 7);
    gw_request req = make_req("sim-fast", "count");
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.text_events, 7);
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-fast", "count");
    req.simulate = json_pack("{s:s}", "output_tokens", "9");
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.text_events, 9);
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-fast", "count [[sim: output_tokens = 11 ]]");
    req.simulate = json_pack("{s:i,s:i}", "output_tokens", 9, "error", 500);
    json_t *msgs = req.messages;
    /* An earlier user message's tags are ignored; only the last one counts. */
    req.messages = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "role", "user", "content",
                             "[[sim:error=404]]", "role", "assistant", "content", "ok", "role",
                             "user", "content", "again [[sim:error=429,retry_after_ms=250]]");
    json_decref(msgs);
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "XD");
    assert_int_equal(f->r.error.code, GW_ERR_RATE_LIMITED);
    assert_int_equal(f->r.error.retry_after_ms, 250);
    gw_request_release(&req);

    reset(f);
    req = make_req("sim-fast", "count [[sim: output_tokens = 11 ]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_int_equal(f->r.text_events, 11);
    gw_request_release(&req);

    /* Content as an array of parts. */
    reset(f);
    req.messages = json_pack("[{s:s,s:[{s:s,s:s}]}]", "role", "user", "content", "type", "text",
                             "text", "[[sim:reply=Hello%2C world!  Bye]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTTFUD");
    assert_string_equal(f->r.text.data, "Hello, world!  Bye");
    gw_request_release(&req);
    json_decref(cfg.defaults);
}

static void test_unknown_model_uses_config(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = {.speed_factor = 1, .default_ttft_ms = 40, .default_tokens_per_s = 0};
    assert_false(gw_sim_model_exists("sim-other"));
    assert_true(gw_sim_model_exists("sim-chat"));
    gw_request req = make_req("sim-other", "hi");
    uint64_t t0 = uv_now(&f->loop);
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    assert_true(f->r.at_ms[0] - t0 >= 39);
    gw_request_release(&req);
}

static void test_speed_factor(void **state)
{
    fixture *f = *state;
    /* sim-chat at full speed: 300 ms + ~50 tokens at 40/s = over 1.3 s.
     * With speed 0.01 it must be done in well under 200 ms. */
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "Explain the speed factor");
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "ST*FUD");
    assert_true(uv_now(&f->loop) - t0 < 200);
    gw_request_release(&req);

    /* At speed 1: ttft 100 ms, then 8 tokens at 100/s (the first with START). */
    reset(f);
    cfg.speed_factor = 1;
    req = make_req("sim-fast", "timed [[sim:ttft_ms=100,tokens_per_s=100,output_tokens=8]]");
    uv_update_time(&f->loop);
    t0 = uv_now(&f->loop);
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTTTTTTTFUD");
    assert_true(f->r.at_ms[0] - t0 >= 99);
    assert_true(f->r.at_ms[1] - t0 >= 99);
    uint64_t streaming = f->r.at_ms[8] - f->r.at_ms[1];
    assert_true(streaming >= 69 && streaming < 250);
    gw_request_release(&req);

    /* stall_ms: silence between START and the first token. */
    reset(f);
    req = make_req("sim-fast", "stall [[sim:ttft_ms=0,stall_ms=80,output_tokens=3]]");
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTTFUD");
    assert_true(f->r.at_ms[1] - f->r.at_ms[0] >= 79);
    gw_request_release(&req);
}

static void test_cancel_inside_emit(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = fast_cfg();
    gw_request req = make_req("sim-chat", "cancel me");
    f->r.cancel_after_text = 3;
    run_call(&f->r, &cfg, &req, 0);
    assert_sequence(&f->r, "STTT"); /* no DONE after cancel */
    assert_false(f->r.done);
    gw_request_release(&req);
}

static void on_cancel_timer(uv_timer_t *t)
{
    recorder *r = t->data;
    gw_sim_cancel(r->call);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel_from_outside(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = {.speed_factor = 1};
    gw_request req = make_req("sim-chat", "slow [[sim:ttft_ms=0,tokens_per_s=100]]");
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = &f->r;
    assert_int_equal(gw_sim_start(&f->loop, &cfg, &req, 0, on_event, &f->r, &f->r.call), CORE_OK);
    gw_request_release(&req); /* the call copied what it needs */
    uv_timer_start(&t, on_cancel_timer, 60, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_false(f->r.done);
    assert_true(f->r.text_events >= 3 && f->r.text_events < 20);

    /* Cancel before anything was emitted. */
    reset(f);
    req = make_req("sim-chat", "never");
    assert_int_equal(gw_sim_start(&f->loop, &cfg, &req, 0, on_event, &f->r, &f->r.call), CORE_OK);
    gw_sim_cancel(f->r.call);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->r.n, 0);
    gw_request_release(&req);
}

static uint64_t resumed_at_ms; /* loop time of the last resume (orders events, not durations) */

static void on_resume_timer(uv_timer_t *t)
{
    recorder *r = t->data;
    resumed_at_ms = uv_now(t->loop);
    gw_sim_resume(r->call);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_pause_resume(void **state)
{
    fixture *f = *state;
    gw_sim_config cfg = {.speed_factor = 1};
    gw_request req =
        make_req("sim-fast", "pause [[sim:ttft_ms=0,tokens_per_s=0,output_tokens=10]]");
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = &f->r;
    f->r.pause_after_text = 3;
    assert_int_equal(gw_sim_start(&f->loop, &cfg, &req, 0, on_event, &f->r, &f->r.call), CORE_OK);
    uv_timer_start(&t, on_resume_timer, 80, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_sequence(&f->r, "STTTTTTTTTTFUD");
    /* Events 1..3 are texts 1..3, before the resume; text 4 waited for it. Ordered by the
     * resume, not by durations, so a loaded machine cannot make this flaky. */
    assert_true(f->r.at_ms[3] <= resumed_at_ms);
    assert_true(f->r.at_ms[4] >= resumed_at_ms);
    gw_request_release(&req);

    /* Pause during the ttft wait: the first byte waits for the resume. */
    reset(f);
    req = make_req("sim-fast", "pause early [[sim:ttft_ms=20,output_tokens=2]]");
    uv_timer_init(&f->loop, &t);
    t.data = &f->r;
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    assert_int_equal(gw_sim_start(&f->loop, &cfg, &req, 0, on_event, &f->r, &f->r.call), CORE_OK);
    gw_sim_pause(f->r.call);
    uv_timer_start(&t, on_resume_timer, 60, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_sequence(&f->r, "STTFUD");
    assert_true(f->r.at_ms[0] - t0 >= 60 + 19);
    gw_request_release(&req);
}

static void test_config_from_env(void **state)
{
    (void)state;
    setenv("AIGW_SIM_SPEED", "0.5", 1);
    setenv("AIGW_SIM_TTFT_MS", "12", 1);
    setenv("AIGW_SIM_TOKENS_PER_S", "34", 1);
    setenv("AIGW_SIM_DEFAULTS", "{\"output_tokens\":5}", 1);
    gw_sim_config cfg;
    gw_sim_config_from_env(&cfg);
    assert_true(cfg.speed_factor > 0.49 && cfg.speed_factor < 0.51);
    assert_int_equal(cfg.default_ttft_ms, 12);
    assert_int_equal(cfg.default_tokens_per_s, 34);
    assert_int_equal(json_integer_value(json_object_get(cfg.defaults, "output_tokens")), 5);
    gw_sim_config_release(&cfg);
    assert_null(cfg.defaults);
    setenv("AIGW_SIM_SPEED", "fast", 1);
    setenv("AIGW_SIM_DEFAULTS", "[1]", 1);
    gw_sim_config_from_env(&cfg);
    assert_true(cfg.speed_factor > 0.99 && cfg.speed_factor < 1.01);
    assert_null(cfg.defaults);
    unsetenv("AIGW_SIM_SPEED");
    unsetenv("AIGW_SIM_TTFT_MS");
    unsetenv("AIGW_SIM_TOKENS_PER_S");
    unsetenv("AIGW_SIM_DEFAULTS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fast_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_code_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasoning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_answer_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_cut_no_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directive_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_model_uses_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_speed_factor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_inside_emit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test(test_config_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
