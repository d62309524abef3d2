/*
 * sim_answer.h - the simulator's answer generator (internal to the
 * simulator; see provider_simulator.h for the provider itself). An answer is
 * a sequence of steps, each one output token or one tool-call event. Prose
 * and verbatim replies are generated step by step while the stream runs;
 * only a tool call (a few steps) is planned up front in a bounded buffer.
 * Deterministic: the same seed gives the same steps. Not thread-safe; one
 * generator per owner.
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
/* Prose generated one token at a time: an intro first (e.g. "This is a
 * simulated reply from sim-chat."), then sentences from word lists, with a
 * paragraph break every three sentences and (code_block) one short fenced
 * code block after the second sentence when there is room. Exactly count
 * tokens; the last one ends with a full stop when it cuts a sentence short.
 * The state is a few hundred bytes whatever the count, and the tokens depend
 * only on the seed held in the rng the caller passes to every call. */
typedef enum {
    GW_SIM_PROSE_SENTENCE, /* draw the next sentence */
    GW_SIM_PROSE_WORDS,    /* emit the current sentence word by word */
    GW_SIM_PROSE_CODE_OPEN,
    GW_SIM_PROSE_CODE_LINE,
    GW_SIM_PROSE_CODE_CLOSE,
} gw_sim_prose_phase;

typedef struct {
    int64_t count, emitted;
    uint32_t sentences;
    uint8_t kind;  /* gw_sim_step_kind */
    uint8_t phase; /* gw_sim_prose_phase */
    uint8_t code_line;
    bool code_done, need_space, paragraph, first_word;
    uint16_t pos;       /* next word in sentence */
    uint16_t code_pos;  /* next token in the code line */
    char sentence[128]; /* longest generated sentence ~100 bytes; intros are cut to fit */
    char word[136];     /* one token: break + a word of sentence + full stop */
} gw_sim_prose;

/* intro is copied. */
void gw_sim_prose_init(gw_sim_prose *g, gw_sim_step_kind kind, int64_t count, const char *intro,
                       bool code_block);
/* The next token into *out (valid until the next call on g, or for the code
 * block's tokens: static); false once count tokens were produced. */
bool gw_sim_prose_next(gw_sim_prose *g, uint64_t *rng, slice_t *out);

/* A verbatim reply, one token per word with the whitespace before it:
 * *cursor walks the reply (which must outlive it); *out points into it. */
bool gw_sim_reply_next(const char **cursor, slice_t *out);
size_t gw_sim_reply_words(const char *reply);

/* Arguments object for a tool whose JSON-schema "parameters" is given (may be
 * NULL): one value per property (enum members, integer within min/max,
 * plausible strings by property name, nested objects/arrays to a small
 * depth). New reference; NULL on OOM. */
json_t *gw_sim_tool_arguments(json_t *parameters, uint64_t hash);

#endif
