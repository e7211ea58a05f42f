/*
 * json_out.h: a JSON object written straight into a caller's buffer.
 */
#ifndef JSON_OUT_H
#define JSON_OUT_H

#include <stddef.h>

struct json_out {
	char	*buf;
	size_t	 cap;
	size_t	 len;
	int	 overflow;	/* something did not fit: the text is void */
	int	 first;		/* the next member opens its object */
};

void		 json_out_init(struct json_out *, char *, size_t);
void		 json_out_open(struct json_out *, const char *);
void		 json_out_close(struct json_out *);
void		 json_out_str(struct json_out *, const char *, const char *);
void		 json_out_fixed(struct json_out *, const char *, double, int);
void		 json_out_int(struct json_out *, const char *, long long);
const char	*json_out_done(struct json_out *, size_t *);

#endif
