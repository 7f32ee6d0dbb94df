/*
 * libcurl, opened at run time by the SMTP transport instead of linked
 * (dlib.h says why): a Maildir setup never maps it, nor the 25 libraries
 * it needs. The header still declares the functions, so every pointer
 * below keeps its real prototype.
 */
#ifndef LIBCURL_H
#define LIBCURL_H

/* Its type-checking macros are named like the functions and would
   rewrite libcurl.easy_setopt(...) into nonsense. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#define LIBCURL_FUNCS \
	F(global_init) F(global_cleanup) F(easy_init) F(easy_cleanup) \
	F(easy_setopt) F(easy_getinfo) F(easy_strerror) F(slist_append) \
	F(slist_free_all) F(multi_init) F(multi_cleanup) F(multi_setopt) \
	F(multi_add_handle) F(multi_remove_handle) F(multi_perform) \
	F(multi_poll) F(multi_wakeup) F(multi_info_read)

struct libcurl {
#define F(name) __typeof__(curl_##name) *name;
	LIBCURL_FUNCS
#undef F
};

extern struct libcurl libcurl;

/* Opens the library and fills libcurl; NULL, or a line saying why not.
   Any thread; the library is opened once. */
const char	*libcurl_open(void);

#endif
