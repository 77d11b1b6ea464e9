/* The prefilter: a byte scan that decides, without parsing, whether an event could possibly
 * raise the AmsiEnable rule, so only candidates pay for a full JSON parse.
 *
 * Contract: it never misses. Every event the full path alerts on names the registry value
 * AmsiEnable, in some spelling: literally in any ASCII case, or with JSON \u escapes (at any
 * nesting level, for records carried as a JSON string inside a JSON string). An event passes
 * when it contains "amsienable" in any ASCII case, or any \u00XX escape of a character that can
 * spell the word or build another escape (its letters, hex digits, 'u', backslash).
 * Pure function: any thread may call it. */
#ifndef AMSI_PIPELINE_PREFILTER_H
#define AMSI_PIPELINE_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>

/* True when the N bytes at P may mention AmsiEnable. */
bool prefilter_candidate(const char *p, size_t n);

/* The portable byte-at-a-time version of the same predicate, for tests and for machines
 * without SSE2. Gives the same answer as prefilter_candidate for every input. */
bool prefilter_candidate_scalar(const char *p, size_t n);

#endif
