/*
 * sim_answer.h - the simulator's answer generator (internal to the
 * simulator; see provider_simulator.h for the provider itself). An answer is
 * planned up front as a list of steps, each one output token or one tool-call
 * event, whose bytes live in one bounded buffer. Deterministic: the same seed
 * gives the same steps. Not thread-safe; one plan per owner.
 */
#ifndef GW_SIM_ANSWER_H
#define GW_SIM_ANSWER_H

#include "../core/buf.h"

#include <jansson.h>

#define GW_SIM_FNV_OFFSET 1469598103934665603ULL
#define GW_SIM_FNV_PRIME  1099511628211ULL

/* FNV-1a over bytes, continuing from hash (start with GW_SIM_FNV_OFFSET). */
uint64_t gw_sim_fnv1a(uint64_t hash, const void *data, size_t len);
/* FNV-1a over a C string followed by a separator, so "ab"+"c" != "a"+"bc". */
uint64_t gw_sim_fnv1a_str(uint64_t hash, const char *s);
/* xorshift64* generator; state is seeded with a hash (0 is fine). */
uint64_t gw_sim_rng_next(uint64_t *state);
/* Uniform-ish integer in [lo, hi]; lo when hi <= lo. */
int64_t gw_sim_rng_range(uint64_t *state, int64_t lo, int64_t hi);

typedef enum {
    GW_SIM_STEP_REASONING,  /* one reasoning token */
    GW_SIM_STEP_TEXT,       /* one text token */
    GW_SIM_STEP_TOOL_START, /* bytes unused: the call keeps id and name */
    GW_SIM_STEP_TOOL_ARGS,  /* one fragment of the arguments */
    GW_SIM_STEP_TOOL_END,
} gw_sim_step_kind;

/* 8 bytes: a held stream keeps one per output token for its whole life. A
 * plan is at most a few MiB, so 29 bits of length are plenty. */
typedef struct {
    uint32_t off;      /* the step's bytes in the plan buffer */
    uint32_t len : 29; /* ... and their length */
    uint32_t kind : 3; /* gw_sim_step_kind */
} gw_sim_step;

/* A plan under construction. plan is the caller's buffer (its ceiling bounds
 * the answer); steps is malloc'd and handed over to the caller, who frees
 * it. The first failure sticks in err (CORE_ENOMEM, CORE_ETOOBIG) and later
 * additions are no-ops. */
typedef struct {
    buf_t *plan;
    gw_sim_step *steps;
    size_t nsteps, cap;
    core_err err;
} gw_sim_plan;

void gw_sim_plan_add_step(gw_sim_plan *pb, gw_sim_step_kind kind, const char *data, size_t len);
/* count word tokens of prose of the given kind: intro first (e.g. "This is a
 * simulated reply from sim-chat."), then generated sentences; code_block adds
 * one short fenced code block after the second sentence when there is room. */
void gw_sim_plan_add_prose(gw_sim_plan *pb, gw_sim_step_kind kind, int64_t count, const char *intro,
                           uint64_t *rng, bool code_block);
/* A verbatim reply, one text step per word (with the whitespace before it). */
void gw_sim_plan_add_reply(gw_sim_plan *pb, const char *reply);

/* Arguments object for a tool whose JSON-schema "parameters" is given (may be
 * NULL): one value per property (enum members, integer within min/max,
 * plausible strings by property name, nested objects/arrays to a small
 * depth). New reference; NULL on OOM. */
json_t *gw_sim_tool_arguments(json_t *parameters, uint64_t hash);

#endif
