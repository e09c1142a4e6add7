/*
 * vitals.h - the plausible range of each vital sign.  A value outside is
 * refused with the field named (a temperature of 420 is a typo, not a
 * fever).  The daemon checks authoritatively; clients may check early.
 */
#ifndef RK_VITALS_H
#define RK_VITALS_H

#include "common/err.h"

struct vital_range {
	const char *field;	/* API / column name */
	const char *label_ja;	/* 体温 ... */
	const char *unit;
	double min, max;
	int integer;		/* 1: whole numbers only */
};

extern const struct vital_range vital_ranges[];	/* field == NULL ends */

const struct vital_range *vital_range_for(const char *field);

/* 0 if value is acceptable for field; RK_EINVAL with why otherwise. */
int vital_check(const char *field, double value, struct rk_why *why)
    RK_MUST_CHECK;

#endif
