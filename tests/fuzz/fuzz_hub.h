/*
 * fuzz_hub.h - a hub to fuzz its request path against: a real hub store
 * (encrypting VFS, current schema) in a temporary directory, with an
 * agency, two staff, a room and one enrolled device whose keys the
 * harness holds.  Shared by fuzz_hub_push.c (raw push bodies, as an
 * attacker on the network sends them) and fuzz_hub_push_signed.c (any
 * changeset inside an envelope the enrolled device signed: the path an
 * enrolled but hostile device reaches).
 */
#ifndef RK_FUZZ_HUB_H
#define RK_FUZZ_HUB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/keys.h"
#include "daemon/admin.h"
#include "daemon/hub.h"
#include "daemon/records.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "daemon/wire.h"

#define FUZZ_DEVICE "fuzz-tablet-1"

static struct store *fuzz_store;
static struct hub *fuzz_hubp;
static struct keys *fuzz_hub_keys, *fuzz_dev_keys;

static void
fuzz_die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_hub: %s: %s\n", what, why ? why : "");
	abort();
}

static void
fuzz_admin(struct rec_ctx *c, int (*op)(struct rec_ctx *, json_t *,
    json_t **, struct rk_why *), const char *json, json_t **keep)
{
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;

	if (in == NULL || op(c, in, &out, &why) != 0)
		fuzz_die(json, why.text);
	json_decref(in);
	if (keep != NULL)
		*keep = out;
	else
		json_decref(out);
}

static struct keys *
fuzz_keys(void)
{
	struct keys *k = sodium_malloc(sizeof(*k));

	if (k == NULL)
		abort();
	memset(k, 0, sizeof(*k));
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	crypto_box_keypair(k->box_pk, k->box_sk);
	randombytes_buf(k->db_key, sizeof(k->db_key));
	return k;
}

static void
fuzz_hub_setup(void)
{
	char tmpl[] = "/tmp/rk-fuzz-hub.XXXXXX", path[256], msg[256];
	char spk[65], bpk[65], proof[129];
	struct store_opts o;
	struct vfs_crypt *v = NULL;
	struct rec_ctx c;
	struct rk_why why = { "" };
	json_t *code = NULL, *in, *out = NULL;
	uint8_t sig[64];
	const char *codetext;

	if (sodium_init() < 0 || mkdtemp(tmpl) == NULL)
		abort();
	fuzz_hub_keys = fuzz_keys();
	fuzz_dev_keys = fuzz_keys();
	if (vfs_crypt_register("rk-fuzz", fuzz_hub_keys->db_key, &v) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/hub.db", tmpl);
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.vfs = "rk-fuzz";
	o.origin = "fuzz-hub";
	o.is_hub = 1;
	if (store_open(&o, &fuzz_store, &why) != 0)
		fuzz_die("store_open", why.text);
	if (hub_open(fuzz_store, fuzz_hub_keys, NULL, &fuzz_hubp) != 0)
		abort();

	memset(&c, 0, sizeof(c));
	c.store = fuzz_store;
	c.is_hub = 1;
	c.staff = "fuzz-hub";
	c.role = "hub";
	c.device_id = "fuzz-hub";
	c.hub_url = "";
	store_lock(fuzz_store);
	fuzz_admin(&c, admin_agency_add, "{\"id\": \"clinic-a\", \"name\": "
	    "\"A\", \"kind\": \"clinic\"}", NULL);
	fuzz_admin(&c, admin_staff_add, "{\"id\": \"dr-1\", \"agency\": "
	    "\"clinic-a\", \"name\": \"D\", \"profession\": \"doctor\"}", NULL);
	fuzz_admin(&c, admin_staff_add, "{\"id\": \"nurse-1\", \"agency\": "
	    "\"clinic-a\", \"name\": \"N\", \"profession\": \"nurse\"}", NULL);
	fuzz_admin(&c, admin_room_create, "{\"room_id\": \"r1\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2026-01-01\", "
	    "\"members\": [\"dr-1\", \"nurse-1\"]}", NULL);
	fuzz_admin(&c, admin_enroll_code, "{\"staff\": \"nurse-1\"}", &code);
	store_unlock(fuzz_store);

	codetext = json_string_value(json_object_get(code, "code"));
	snprintf(msg, sizeof(msg), "%s%s\n%s", WIRE_SIG_ENROLL, codetext,
	    FUZZ_DEVICE);
	crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg),
	    fuzz_dev_keys->sign_sk);
	sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
	sodium_bin2hex(spk, sizeof(spk), fuzz_dev_keys->sign_pk, 32);
	sodium_bin2hex(bpk, sizeof(bpk), fuzz_dev_keys->box_pk, 32);
	in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", codetext,
	    "device_id", FUZZ_DEVICE, "sign_pk", spk, "box_pk", bpk, "proof",
	    proof);
	if (in == NULL || hub_enroll(fuzz_hubp, in, &out, &why) != 0)
		fuzz_die("enrol", why.text);
	json_decref(in);
	json_decref(out);
	json_decref(code);
}

/* One push as the enrolled device; whatever the answer, the hub must
 * neither crash nor hang, and must stay usable. */
static void
fuzz_hub_push_body(const uint8_t *body, size_t len)
{
	struct rk_why why = { "" };
	json_t *out = NULL;

	if (hub_push(fuzz_hubp, FUZZ_DEVICE, body, len, &out, &why) == 0 &&
	    out == NULL)
		abort();	/* success must answer */
	json_decref(out);
}

#endif
