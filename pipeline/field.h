/* Reading ECS fields from a parsed document the way Elasticsearch sees them: a dotted name is a
 * path into nested objects, a document may carry the dotted name (or part of it) as a literal key,
 * arrays of values and arrays of objects are flattened, and scalars compare as their text.
 * Pure functions over jansson values: any thread may call them on values it owns. */
#ifndef AMSI_PIPELINE_FIELD_H
#define AMSI_PIPELINE_FIELD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Every value found at PATH in DOC, under every spelling (nested objects, literal dotted keys,
 * mixtures of both), arrays flattened, nulls left out. Returns a new array (possibly empty), or
 * NULL when out of memory. */
json_t *field_collect(const json_t *doc, const char *path);

/* The value at PATH as a document would store it in one place: a new reference to the single
 * value found (scalar or array), an array of all of them when several spellings are present, or
 * NULL when the field is missing, null, or an empty array. */
json_t *field_get(const json_t *doc, const char *path);

/* The string at PATH when exactly one scalar string is there, else NULL. Borrowed from DOC. */
const char *field_str(const json_t *doc, const char *path);

/* Text of a scalar as Elasticsearch indexes it in a keyword field: strings as they are, integers
 * in decimal, reals in shortest form, true/false. Writes into TMP (at least 32 bytes) when it must.
 * Returns false for null, objects and arrays. */
bool field_scalar_text(const json_t *v, char *tmp, size_t tmplen, const char **s, size_t *len);

/* EQL ':' on one string: ASCII case-insensitive, '*' any run, '?' one byte. */
bool field_like(const char *s, size_t len, const char *pattern);

/* EQL '==' on one string: exact and case-sensitive. */
bool field_equals(const char *s, size_t len, const char *literal);

/* Any element of V (a scalar or an array of scalars) satisfies ':' with any of the N patterns. */
bool field_any_like(const json_t *v, const char *const *patterns, size_t n);

/* Any element of V (a scalar or an array of scalars) satisfies '==' with any of the N literals. */
bool field_any_equals(const json_t *v, const char *const *literals, size_t n);

#endif
