/* vitals.c - plausible ranges of vital signs (see vitals.h). */
#include "common/vitals.h"

#include <math.h>
#include <string.h>

const struct vital_range vital_ranges[] = {
	{ "bp_sys", "収縮期血圧", "mmHg", 40, 300, 1 },
	{ "bp_dia", "拡張期血圧", "mmHg", 20, 200, 1 },
	{ "pulse", "脈拍", "/min", 20, 250, 1 },
	{ "temp", "体温", "°C", 30.0, 45.0, 0 },
	{ "spo2", "SpO2", "%", 50, 100, 1 },
	{ "resp", "呼吸数", "/min", 4, 80, 1 },
	{ "weight", "体重", "kg", 1.0, 300.0, 0 },
	{ NULL, NULL, NULL, 0, 0, 0 },
};

const struct vital_range *
vital_range_for(const char *field)
{
	const struct vital_range *r;

	for (r = vital_ranges; r->field != NULL; r++)
		if (strcmp(r->field, field) == 0)
			return r;
	return NULL;
}

int
vital_check(const char *field, double value, struct rk_why *why)
{
	const struct vital_range *r = vital_range_for(field);

	if (r == NULL)
		return rk_whyf(why, RK_EINVAL, "%s: not a vital sign", field);
	if (!isfinite(value) || value < r->min || value > r->max)
		return rk_whyf(why, RK_EINVAL,
		    "%s (%s): %g is out of range (%g-%g %s)", field,
		    r->label_ja, value, r->min, r->max, r->unit);
	if (r->integer && value != floor(value))
		return rk_whyf(why, RK_EINVAL,
		    "%s (%s): %g must be a whole number", field, r->label_ja,
		    value);
	return 0;
}
