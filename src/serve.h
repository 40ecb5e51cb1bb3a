/* The life of an endpoint process: configuration once, then requests over
 * FastCGI (FCGX_Accept_r; libfcgi tells FastCGI from CGI by whether stdin
 * is a listening socket) or, started as plain CGI, exactly one request. */
#ifndef LK_SERVE_H
#define LK_SERVE_H

#include "http.h"

typedef void (*lk_handler)(lk_req *r);

typedef void (*lk_profile_handler)(lk_req *r, const char *profile);

/* Runs prog's handler for every request; returns the exit status. */
int lk_serve(const char *prog, lk_handler handle);
/* Like lk_serve for a program whose one route is /{prog}/{profile}: any
 * other path is answered 404 unknown_profile ("No such route."). */
int lk_serve_profile(const char *prog, lk_profile_handler handle);

/* Ends every request: sends r->err (JSON) when the handler sent nothing. */
void lk_finish(lk_req *r);

#endif
