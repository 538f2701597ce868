/*
 * prep_json.h — a fitted preprocessing (core/prep.h) as JSON (jansson) and
 * back, in the one form the store, the API and weights files share
 * (prep_json.c's header shows it).
 */
#ifndef PREP_JSON_H
#define PREP_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "prep.h"

/* New reference; null for NULL or an empty p. */
json_t *prep_json_dump(const nn_prep *p);

/* The same as compact text with 17-digit reals ("null" for NULL); caller
 * frees.  NULL when out of memory. */
char *prep_json_text(const nn_prep *p);

/* Reads a dump back into *p (caller frees with nn_prep_free).  -1 with a
 * message in err when it is not one. */
int prep_json_parse(const json_t *j, nn_prep *p, char *err, size_t errlen);
int prep_json_parse_text(const char *text, nn_prep *p, char *err, size_t errlen);

#endif
