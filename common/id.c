/* id.c - time-ordered identifiers. */
#include "common/id.h"

#include <string.h>

static const char id_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void
id_new(const struct rk_clock *c, char out[ID_LEN + 1])
{
	uint8_t b[16];
	uint64_t ms = (uint64_t)rk_now_ms(c);
	int i, bit;

	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	rk_random(c, b + 6, 10);
	/* 128 bits as 26 five-bit digits; the first digit holds 3 bits. */
	for (i = 0; i < ID_LEN; i++) {
		unsigned v = 0;
		int k;

		for (k = 0; k < 5; k++) {
			bit = i * 5 + k - 2;	/* 130 bit slots, 2 leading zeros */
			v <<= 1;
			if (bit >= 0)
				v |= (b[bit / 8] >> (7 - bit % 8)) & 1;
		}
		out[i] = id_alphabet[v];
	}
	out[ID_LEN] = '\0';
}

int
id_valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}
