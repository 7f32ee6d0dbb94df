#ifndef INTAKE_UPLOAD_H
#define INTAKE_UPLOAD_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include "age.h"
#include "filetype.h"

/*
 * A multipart/form-data submission on its way in: the body, fed as it
 * arrives, is split by the multipart parser into text fields (gathered,
 * to be validated like an urlencoded body) and files. A file's type is
 * decided from its first bytes (filetype.h) and a file the form does not
 * take is dropped on the spot; the others are encrypted as they arrive
 * into anonymous staging files (attach.h). Nothing of a file is ever on
 * disk in plaintext, and memory stays at a few 64 KiB chunks whatever the
 * files' sizes.
 *
 * The loop owns the upload. Encryption and staging are the threadpool's:
 * when upload_feed or upload_finish returns UPLOAD_WORK, the caller stops
 * feeding, runs upload_work on the threadpool and upload_work_done on the
 * loop, and goes on.
 */

#define UPLOAD_MORE	0
#define UPLOAD_WORK	1
#define UPLOAD_FEED_MAX	65536	/* bytes one upload_feed takes at most */

/* What a form takes (its config and [limits]). */
struct upload_policy {
	unsigned	 allowed;	/* 1u << enum filetype, for each type */
	uint64_t	 file_bytes;	/* one file */
	uint64_t	 upload_bytes;	/* all files of a submission */
	unsigned	 files;		/* files in all */
	size_t		 field_bytes;	/* one text value */
	size_t		 text_bytes;	/* all text values */
	unsigned	 max_parts;
};

/* A field of the schema that takes files, and how many. */
struct upload_field {
	const char	*name;
	unsigned	 max;
};

/* A file as the record lists it. */
#define UPLOAD_FILES_MAX	64	/* files one upload can carry */

struct upload_file {
	const char	*field;
	const char	*filename;	/* cleaned by the multipart parser */
	const char	*content_type;	/* detected */
	uint64_t	 size;		/* plaintext bytes */
	char		 sha256[65];	/* of the plaintext, hex */
	int		 fd;		/* the staged age file */
	uint64_t	 staged;	/* its size */
};

/* A problem with a file, for the 422 answer beside the text fields'. */
struct upload_problem {
	const char	*field;
	const char	*code;		/* fileType, maxItems, notAFile, file */
	const char	*message;	/* never echoes the file */
};

struct upload;

/*
 * Starts an upload for a body framed by boundary. fields (nfields, copied
 * by pointer: they must outlive the upload) are the form's file fields;
 * files are staged in stage_dir for the nr recipients r. 0 or ERR_*.
 */
int	upload_new(const char *boundary, const struct upload_policy *,
	    const struct upload_field *fields, size_t nfields,
	    const char *stage_dir, const struct age_recipient *r, size_t nr,
	    struct upload **out);
/*
 * Feeds n (at most UPLOAD_FEED_MAX) bytes of the body. UPLOAD_MORE, UPLOAD_WORK (see above), or
 * ERR_MALFORMED (400) or ERR_TOOBIG (413, as soon as a limit is
 * crossed), with upload_error() saying why in a few words.
 */
int	upload_feed(struct upload *, const void *p, size_t n);
/* The body has ended: 0, UPLOAD_WORK (the last file's end to stage), or
   an error as for upload_feed. */
int	upload_finish(struct upload *);
/* Threadpool: stages what the last feed or finish gathered. */
void	upload_work(struct upload *);
/* Loop, after upload_work: 0, or ERR_IO/ERR_NOMEM (logged): answer 503. */
int	upload_work_done(struct upload *);
const char *upload_error(const struct upload *);

/* After a finish that returned 0: the text fields as an urlencoded body
   (valid while the upload lives), the files and the problems. */
const char *upload_text(const struct upload *, size_t *len);
size_t	upload_nfiles(const struct upload *);
const struct upload_file *upload_file(const struct upload *, size_t i);
const struct upload_problem *upload_problems(const struct upload *,
	    size_t *n);
/* Closes every staging file (what they held vanishes) and frees it. */
void	upload_free(struct upload *);

#endif
