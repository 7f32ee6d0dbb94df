#ifndef INTAKE_STORE_MIGRATE_H
#define INTAKE_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_MIGRATE_TABLES	8

/* What was copied: each table's rows, and whether it read back equal. */
struct store_migrate {
	struct store_migrate_table {
		const char	*name;
		uint64_t	 rows;
		int		 verified;
	}		t[STORE_MIGRATE_TABLES];
	size_t		ntables;
};

/*
 * Copies the SQLite store from into the PostgreSQL store to (created and
 * migrated if need be; it must hold no inquiries, notifications or audit
 * entries yet) in one transaction, committed only when every table's
 * row count and SHA-256 read back equal. The source is only read.
 * 0; ERR_INVAL (from is not SQLite or to not PostgreSQL), ERR_EXIST (to
 * is not empty), ERR_AUTH (a table differs: nothing was kept), or the
 * stores' errors. *rep says what was copied.
 */
int	store_migrate(const char *from, const char *to, struct store_migrate *rep);

#endif
