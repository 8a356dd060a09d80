/*
 * dups_api.h - GET /api/duplicates of `mediagrep serve` (dups_api.c): the
 * groups of `mediagrep dups --json` (search/dups.h) for the query
 * parameters threshold, kind, exact, min_group. Not a public interface.
 *
 * Threading: called on a libmicrohttpd pool thread; it takes one of the
 * server's store slots for the duration of the computation. The last result
 * is kept (under a mutex) and returned again while the store's committed
 * state and the parameters are the same.
 * Errors: 400 for bad parameters ({"error": ...}), 404-class store problems
 * as 400/500 with the library's message.
 */
#ifndef MG_SERVER_DUPS_API_H
#define MG_SERVER_DUPS_API_H

#include "server/server_internal.h"

enum MHD_Result srv_do_dups(mg_server *s, struct MHD_Connection *c, req *r);

#endif
