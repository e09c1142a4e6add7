/*
 * records.h - what the local API does to a replica: room creation, posts,
 * visits, the emergency card, and the reads behind them.  Inputs and
 * outputs are the JSON objects of the local API contract (common/api.h);
 * every input is validated here, with the field named in why, before a
 * byte is written.  Each write is one captured transaction (store.h).
 */
#ifndef RK_RECORDS_H
#define RK_RECORDS_H

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

struct store;

struct sync;

struct rec_ctx {
	struct store *store;
	struct sync *sync;	/* device: the sync engine (NULL on a hub) */
	int is_hub;
	const char *staff;	/* the acting staff member */
	const char *role;	/* "device" or "hub" */
	const char *device_id;
	const char *hub_url;	/* NULL or "" when not enrolled */
	int64_t retention_ms;	/* hub: archived rooms are kept this long */
};

/* Each *out is a new reference the caller releases with json_decref. */
int rec_status(struct rec_ctx *c, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;
int rec_rooms_list(struct rec_ctx *c, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;
int rec_room_create(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
int rec_post_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
int rec_visit_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
int rec_timeline(struct rec_ctx *c, const char *room, int limit,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
int rec_card_get(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
int rec_card_patch(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* A printable one-page HTML sheet of the card, appended to out. */
int rec_card_html(struct rec_ctx *c, const char *room, struct buf *out,
    struct rk_why *why) RK_MUST_CHECK;

/* The outbox entries the hub refused, with their rows decoded, so what a
 * user wrote stays readable: {"refused": [{"seq", "room_id", "at",
 * "reason", "rows": [{"table", "op", "row": {column: value}}]}]}. */
int rec_refused(struct rec_ctx *c, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;

/* 1 if s is a real calendar date written YYYY-MM-DD. */
int rec_valid_date(const char *s);

#endif
