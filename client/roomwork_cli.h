/*
 * roomwork_cli.h - what the room-work commands share (cmd_request.c,
 * cmd_read.c, cmd_member.c, cmd_acp.c, cmd_med.c, cmd_sheet.c,
 * cmd_audit.c, cmd_patient.c, cmd_room_archive.c): the request kinds with
 * their Japanese labels, resolving a record id typed short, and printing
 * who read something.  Implemented in cmd_request.c.
 */
#ifndef RK_ROOMWORK_CLI_H
#define RK_ROOMWORK_CLI_H

#include <stddef.h>

#include "client/cli.h"

/* The kinds of request (daemon/roomwork.h) and their labels. */
extern const struct cli_label rwc_request_kinds[];

/* "name (YYYY-MM-DD HH:MM), ..." of a read_by array; "-" if empty. */
void rwc_print_readers(const json_t *read_by);

/* Sets o[key] from "FIELD=VALUE" (an empty VALUE sets null), refusing
 * FIELD given twice. */
int rwc_set_field(struct cli *cli, json_t *o, const char *arg,
    const char *what) RK_MUST_CHECK;

#endif
