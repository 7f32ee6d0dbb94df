#ifndef INTAKE_MESSAGE_H
#define INTAKE_MESSAGE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "form.h"
#include "log.h"
#include "template.h"

/*
 * Composition of the mails intaked sends: RFC 5322 headers (RFC 2047
 * encoded words for anything not plain ASCII, folded), MIME bodies in UTF-8
 * with quoted-printable text and base64 attachments, lines of at most 76
 * characters, CRLF line ends.
 *
 * Header safety: no value reaches a header verbatim. Control characters
 * (CR and LF included) become spaces, anything beyond plain printable ASCII
 * is sent as an encoded word, and addresses must pass addr_valid (addr.h)
 * (a conservative dot-atom subset), so a form value can never start a
 * header line of its own.
 *
 * Staff notification (message_notify): multipart/alternative of text/plain
 * (notify.txt) and text/html (notify.html); for content=sealed wrapped in
 * multipart/mixed with the age record attached as "<id>.age", and the
 * encrypted files as "<id>-N.age" when they fit (message_attach). Files
 * are listed by number, type and size; by name only for content=full,
 * since a file name is the patient's words too. Reply-To
 * (the patient's validated address, with the "name" field as display
 * name) only for content=full: summary and sealed mails carry no field
 * value anywhere, headers included. The patient's
 * acknowledgement (message_ack) is a single text/plain part (ack.txt).
 * Message-ID is <ID.KIND@DOMAIN> (DOMAIN from the From address) and Date is
 * the inquiry's reception time, so rendering twice gives the same message.
 */

#define MESSAGE_MAX	(48u << 20)	/* cap on one composed message */
#define MESSAGE_FILES_MAX 64	/* files one notification may carry */


/* The templates of a mailer, loaded together (see templates/). */
struct message_templates {
	struct tmpl	*notify_txt;
	struct tmpl	*notify_html;
	struct tmpl	*ack_txt;
};

/* A file that came with an inquiry, as its notification lists it. */
struct message_file {
	const char	*filename;	/* listed only for content=full */
	const char	*type;		/* detected */
	uint64_t	 size;		/* plaintext bytes */
	uint64_t	 staged;	/* its age file's bytes */
};

struct message_notify {
	const char		*id;
	const char		*kind;		/* "notify": Message-ID part */
	const char		*form;		/* form name */
	const char		*title;		/* form title */
	int64_t			 received_at_ms;
	const json_t		*fields;	/* object: name -> value */
	/* Schema fields: order and labels of the listing (NULL: the
	   object's order, names as labels). */
	const struct form_field	*labels;
	size_t			 nlabels;
	const char		*reply_to_field;	/* or NULL */
	const char		*name_field;	/* display name for Reply-To */
	enum mail_content	 content;
	const unsigned char	*record;	/* content=sealed: age file */
	size_t			 recordlen;
	const struct message_file *files;
	size_t			 nfiles;
	/* content=sealed: the files follow as parts of their own, so the
	   message ends open, before the closing boundary (message_attach). */
	int			 attach;
	const char		*inbox;		/* URL of this inquiry, or NULL */
	const struct tmpl	*subject;	/* TMPL_TEXT; NULL: default */
	const char		*from;
	char *const		*to;
	size_t			 nto;
};

/* An accepted inquiry as the mails about it see it. The templates and the
   subject come from the configuration snapshot the inquiry was accepted
   with, so a reload applies to every mail of later inquiries at once. */
struct message_inquiry {
	const char			*id;
	const char			*form;		/* form name */
	const char			*title;		/* form title */
	int64_t				 received_at_ms;
	const json_t			*fields;	/* validated fields */
	const struct form_field		*labels;	/* or NULL */
	size_t				 nlabels;
	const char			*reply_to_field;	/* or NULL */
	const unsigned char		*record;	/* the age file */
	size_t				 recordlen;
	const struct message_file	*files;
	size_t				 nfiles;
	const char			*inbox_url;	/* [admin] public_url */
	const struct message_templates	*tpl;
	const struct tmpl		*subject;	/* or NULL */
};

/* Who sends the mails and who is told of each inquiry ([mail]). */
struct message_sender {
	const char		*from;
	char *const		*to;
	size_t			 nto;
	enum mail_content	 content;
	size_t			 max_attach;	/* sealed: files attached */
};

struct message_ack {
	const char		*id;
	const char		*title;
	const char		*name;		/* patient's name, or NULL */
	const char		*to;		/* validated address */
	const char		*from;
	int64_t			 received_at_ms;
};


/*
 * Loads notify.txt, notify.html (HTML escaping) and ack.txt from dir with
 * the variables documented at the top of each file. Problems go to d as
 * file:line. On failure nothing stays loaded.
 */
int	message_templates_load(const char *dir, struct message_templates *,
	    struct diag *d);
void	message_templates_free(struct message_templates *);
/* Parses a form's subject template (TMPL_TEXT; variables id, form,
   title); name names it in diagnostics. *out owned by the caller. */
int	message_subject_parse(const char *name, const char *text,
	    struct tmpl **out, struct diag *d);

/* Appends the staff notification to out (CRLF line ends). */
int	message_notify(const struct message_templates *,
	    const struct message_notify *, struct buf *out);
/* Appends the patient's acknowledgement to out. */
int	message_ack(const struct message_templates *,
	    const struct message_ack *, struct buf *out);

/*
 * The spooled form of a mail, what the outbox keeps (sealed): the envelope
 * recipients, one per line, an empty line, then the message. Baking the
 * recipients in keeps a queued ack's address inside the seal and a queued
 * notification consistent with its To: header even if the configuration
 * changes before it is sent.
 *
 * A sealed notification whose files are attached is spooled without
 * them (the store has them already) and a first line "@attach N" says how
 * many to splice in before it is sent: message_attach appends file k's
 * part, message_attach_end closes the message.
 *
 * message_spool_notify appends the staff notification of inq;
 * message_spool_ack the patient's acknowledgement, or nothing (and 0)
 * when the inquiry holds no valid reply_to address. message_spool_parse
 * splits a spooled mail in place: up to max recipients (re-validated) into
 * rcpt, the number of files to attach into *attach, *body the offset of
 * the message; ERR_MALFORMED when it is not one.
 */
int	message_spool_notify(const struct message_inquiry *,
	    const struct message_sender *, struct buf *out);
int	message_spool_ack(const struct message_inquiry *, const char *from,
	    struct buf *out);
int	message_spool_parse(char *p, size_t len, char **rcpt, size_t max,
	    size_t *n, unsigned *attach, size_t *body);
int	message_attach(struct buf *, const char *id, unsigned k,
	    const void *age, size_t len);
int	message_attach_end(struct buf *, const char *id);

/* The validated address in fields[field], or NULL (missing or invalid).
   Points into fields. */
const char *message_field_addr(const json_t *fields, const char *field);

/*
 * Building blocks, exported for the tests. message_header appends
 * "Name: value" CRLF, with value made safe (controls to spaces) and
 * encoded as RFC 2047 words when it is not short printable ASCII.
 * message_qp appends text (LF or CRLF line ends) as quoted-printable.
 * message_base64 appends base64 in 76-column lines.
 */
int	message_header(struct buf *, const char *name, const char *value);
int	message_qp(struct buf *, const char *text, size_t len);
int	message_base64(struct buf *, const void *p, size_t len);

#endif
