/*
 * libpq, opened at run time by the PostgreSQL store instead of linked
 * (dlib.h says why): a SQLite setup never maps it, nor its TLS,
 * Kerberos and LDAP libraries. The header still declares the functions,
 * so every pointer below keeps its real prototype.
 */
#ifndef INTAKE_LIBPQ_H
#define INTAKE_LIBPQ_H

#include <libpq-fe.h>

#define LIBPQ_FUNCS \
	F(connectdbParams) F(status) F(reset) F(errorMessage) F(finish) \
	F(transactionStatus) F(resultStatus) F(resultErrorField) \
	F(exec) F(execParams) F(sendQueryParams) F(setSingleRowMode) \
	F(getResult) F(clear) F(cmdTuples) F(ntuples) F(getisnull) \
	F(fformat) F(getvalue) F(getlength) F(enterPipelineMode) \
	F(exitPipelineMode) F(pipelineSync) F(ftype) F(prepare) \
	F(sendQueryPrepared)

struct libpq {
#define F(name) __typeof__(PQ##name) *name;
	LIBPQ_FUNCS
#undef F
};

extern struct libpq pq;

/* Opens the library and fills pq; NULL, or a line saying why not. Any
   thread; the library is opened once. */
const char	*libpq_open(void);

#endif
