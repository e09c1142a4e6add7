/*
 * cmd_post.c - renkei post ROOM TEXT: a message to a room's members.  TEXT
 * "-" reads the message from standard input (several lines, from a
 * script).  Prints the new post's id.
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/api.h"
#include "common/buf.h"

/* Reads all of stdin, at most API_MAX_TEXT bytes, into b as a string. */
static int
post_read_stdin(struct cli *cli, struct buf *b)
{
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (b->len + n > API_MAX_TEXT)
			return rk_whyf(&cli->why, RK_EINVAL, "post: the text "
			    "is longer than %d bytes", API_MAX_TEXT);
		if (buf_append(b, chunk, n) != 0)
			return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	}
	if (ferror(stdin))
		return rk_whyf(&cli->why, RK_EIO, "post: cannot read the text "
		    "from standard input");
	/* The line break that ends the last line is not part of the text. */
	while (b->len > 0 && (b->data[b->len - 1] == '\n' ||
	    b->data[b->len - 1] == '\r'))
		b->len--;
	if (buf_append(b, "", 1) != 0)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if (strlen((char *)b->data) != b->len - 1)
		return rk_whyf(&cli->why, RK_EINVAL, "post: the text on "
		    "standard input contains a NUL byte");
	return 0;
}

int
cmd_post(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	struct buf in = BUF_INIT;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *text = NULL, *s;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (room == NULL)
			room = val;
		else if (text == NULL)
			text = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s' (quote "
			    "the text)", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL || text == NULL) {
		rc = cli_usage(cli, "give ROOM and TEXT");
		goto out;
	}
	if (strcmp(text, "-") == 0) {
		if ((rc = post_read_stdin(cli, &in)) != 0)
			goto out;
		text = (const char *)in.data;
	}
	if (strspn(text, " \t\r\n") == strlen(text)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "post: the text is empty");
		goto out;
	}
	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, req, "body", text, "TEXT")) != 0 ||
	    (rc = cli_room_path(cli, path, sizeof(path), room,
	    "/posts")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else {
		s = cli_jstr(resp, "id");
		printf("%s\n", s != NULL ? s : "?");
	}
out:
	json_decref(resp);
	json_decref(req);
	buf_release(&in);
	return rc;
}
