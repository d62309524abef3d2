/*
 * test_hub_policy.c - model policy and resolution order (src/hub/hub_policy.c):
 * allow-lists, availability, explicit vs implicit choices, the llm_selection
 * flag and the fallback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hub/hub_policy.h"

static json_t *registry(void)
{
    json_error_t e;
    json_t *r = json_loads(
        "["
        "{\"provider\":\"simulator\",\"model\":\"sim-fast\",\"status\":\"available\"},"
        "{\"provider\":\"simulator\",\"model\":\"sim-chat\",\"status\":\"degraded\"},"
        "{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"status\":\"unconfigured\"},"
        "{\"provider\":\"deepseek\",\"model\":\"deepseek-chat\",\"status\":\"available\"}"
        "]",
        0, &e);
    assert_non_null(r);
    return r;
}

static void test_check_and_lists(void **state)
{
    (void)state;
    json_t *reg = registry();
    json_t *org = json_pack("[s,s]", "simulator/sim-fast", "openai/gpt-4o-mini");
    assert_int_equal(hub_policy_check(reg, NULL, NULL, "simulator", "sim-chat"), HUB_MODEL_OK);
    assert_int_equal(hub_policy_check(reg, org, NULL, "simulator", "sim-chat"),
                     HUB_MODEL_NOT_ALLOWED);
    assert_int_equal(hub_policy_check(reg, org, NULL, "openai", "gpt-4o-mini"),
                     HUB_MODEL_UNAVAILABLE);
    assert_int_equal(hub_policy_check(reg, org, NULL, "nope", "x"), HUB_MODEL_UNKNOWN);
    /* prefix tricks do not match */
    assert_false(hub_policy_list_allows(org, "simulator", "sim-fas"));
    assert_false(hub_policy_list_allows(org, "simulato", "r/sim-fast"));
    assert_true(hub_policy_list_allows(json_null(), "any", "thing"));
    /* agent subset narrows the org list */
    json_t *agent = json_pack("[s]", "openai/gpt-4o-mini");
    assert_int_equal(hub_policy_check(reg, org, agent, "simulator", "sim-fast"),
                     HUB_MODEL_NOT_ALLOWED);

    json_t *alts = hub_policy_alternatives(reg, NULL, NULL);
    assert_int_equal(json_array_size(alts), 3); /* the unconfigured one is left out */
    assert_string_equal(json_string_value(json_array_get(alts, 0)), "simulator/sim-fast");
    json_decref(alts);

    json_t *ann = hub_policy_annotate(reg, org, NULL);
    assert_int_equal(json_array_size(ann), 4);
    assert_true(json_is_true(json_object_get(json_array_get(ann, 0), "allowed")));
    assert_null(json_object_get(json_array_get(ann, 0), "reason"));
    json_t *chat = json_array_get(ann, 1);
    assert_true(json_is_false(json_object_get(chat, "allowed")));
    assert_non_null(json_string_value(json_object_get(chat, "reason")));
    assert_string_equal(json_string_value(json_object_get(chat, "id")), "simulator/sim-chat");
    /* the registry itself is untouched */
    assert_null(json_object_get(json_array_get(reg, 1), "allowed"));
    json_decref(ann);
    json_decref(agent);
    json_decref(org);
    json_decref(reg);
}

static void test_ref_parse(void **state)
{
    (void)state;
    char p[32], m[32];
    assert_int_equal(hub_model_ref_parse(NULL, "openai/gpt-4o", p, sizeof p, m, sizeof m), CORE_OK);
    assert_string_equal(p, "openai");
    assert_string_equal(m, "gpt-4o");
    assert_int_equal(hub_model_ref_parse("deepseek", "deepseek-chat", p, sizeof p, m, sizeof m),
                     CORE_OK);
    assert_string_equal(p, "deepseek");
    /* provider given: the model may itself contain slashes (fal/openrouter ids) */
    assert_int_equal(hub_model_ref_parse("fal", "meta/llama-3", p, sizeof p, m, sizeof m), CORE_OK);
    assert_string_equal(m, "meta/llama-3");
    assert_int_equal(hub_model_ref_parse(NULL, "noslash", p, sizeof p, m, sizeof m), CORE_EINVAL);
    assert_int_equal(hub_model_ref_parse(NULL, "/x", p, sizeof p, m, sizeof m), CORE_EINVAL);
    assert_int_equal(hub_model_ref_parse("", "", p, sizeof p, m, sizeof m), CORE_EINVAL);
    assert_int_equal(hub_model_ref_parse("p", "a-very-long-model-name-that-does-not-fit", p,
                                         sizeof p, m, sizeof m),
                     CORE_EINVAL);
}

static hub_resolve_input base_input(json_t *reg)
{
    hub_resolve_input in;
    memset(&in, 0, sizeof in);
    in.registry = reg;
    in.llm_selection = true;
    in.choice[HUB_SRC_SYSTEM] = (hub_model_choice){"simulator", "sim-fast"};
    return in;
}

static void test_resolution_order(void **state)
{
    (void)state;
    json_t *reg = registry();
    hub_resolve_input in = base_input(reg);
    hub_resolution r;

    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_OK);
    assert_int_equal(r.source, HUB_SRC_SYSTEM);
    assert_string_equal(r.model, "sim-fast");

    in.choice[HUB_SRC_ORG] = (hub_model_choice){"deepseek", "deepseek-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_ORG);

    in.choice[HUB_SRC_USER] = (hub_model_choice){"simulator", "sim-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_USER);
    assert_string_equal(hub_model_source_code(r.source), "user_default");

    in.choice[HUB_SRC_AGENT] = (hub_model_choice){"deepseek", "deepseek-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_AGENT);

    in.choice[HUB_SRC_CONVERSATION] = (hub_model_choice){"simulator", "sim-fast"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_CONVERSATION);

    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){"simulator", "sim-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_REQUEST);
    assert_string_equal(r.provider, "simulator");
    assert_string_equal(r.model, "sim-chat");
    assert_non_null(strstr(r.reason, "request"));
    json_decref(reg);
}

static void test_explicit_refusals(void **state)
{
    (void)state;
    json_t *reg = registry();
    json_t *org = json_pack("[s]", "simulator/sim-fast");
    hub_resolve_input in = base_input(reg);
    in.org_allowed = org;
    hub_resolution r;

    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){"deepseek", "deepseek-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_NOT_ALLOWED);
    assert_string_equal(r.suggestion, "simulator/sim-fast");

    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){"nope", "nothing"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_UNKNOWN);

    in.org_allowed = NULL;
    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){"openai", "gpt-4o-mini"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_UNAVAILABLE);
    assert_string_equal(r.suggestion, "simulator/sim-fast");
    json_decref(org);
    json_decref(reg);
}

static void test_implicit_skips_and_flag(void **state)
{
    (void)state;
    json_t *reg = registry();
    json_t *org = json_pack("[s,s]", "deepseek/deepseek-chat", "simulator/sim-chat");
    hub_resolve_input in = base_input(reg);
    in.org_allowed = org;
    hub_resolution r;

    /* conversation model no longer allowed: skipped, noted, next source wins */
    in.choice[HUB_SRC_CONVERSATION] = (hub_model_choice){"simulator", "sim-fast"};
    in.choice[HUB_SRC_USER] = (hub_model_choice){"simulator", "sim-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_OK);
    assert_int_equal(r.source, HUB_SRC_USER);
    assert_non_null(strstr(r.reason, "skipped"));

    /* nothing configured is allowed: first allowed available model */
    in.choice[HUB_SRC_USER] = (hub_model_choice){NULL, NULL};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.source, HUB_SRC_FALLBACK);
    assert_string_equal(r.model, "sim-chat");

    /* llm_selection off: request and user default are ignored, org default used */
    in.llm_selection = false;
    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){"simulator", "sim-chat"};
    in.choice[HUB_SRC_USER] = (hub_model_choice){"simulator", "sim-chat"};
    in.choice[HUB_SRC_ORG] = (hub_model_choice){"deepseek", "deepseek-chat"};
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_OK);
    assert_int_equal(r.source, HUB_SRC_ORG);
    assert_non_null(strstr(r.reason, "disabled"));

    /* nothing allowed at all */
    json_t *none = json_array();
    in.org_allowed = none;
    hub_policy_resolve(&in, &r);
    assert_int_equal(r.verdict, HUB_MODEL_NOT_ALLOWED);
    json_decref(none);
    json_decref(org);
    json_decref(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_and_lists),         cmocka_unit_test(test_ref_parse),
        cmocka_unit_test(test_resolution_order),        cmocka_unit_test(test_explicit_refusals),
        cmocka_unit_test(test_implicit_skips_and_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
