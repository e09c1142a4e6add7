/*
 * id.h - record identifiers: 26 characters of Crockford base32 holding 48
 * bits of Unix milliseconds then 80 random bits, so ids sort by creation
 * time and never collide in practice across devices.
 */
#ifndef RK_ID_H
#define RK_ID_H

#include "common/clock.h"

#define ID_LEN 26

/* Writes ID_LEN characters and a NUL into out (ID_LEN + 1 bytes). */
void id_new(const struct rk_clock *c, char out[ID_LEN + 1]);

/* 1 if s is a well-formed identifier a user may give a room, staff or
 * agency: 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'. */
int id_valid_name(const char *s);

#endif
