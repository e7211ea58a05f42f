/*
 * pgarray.h: PostgreSQL's text form of one-dimensional arrays, as the
 * recorder sends its batch ("{a,b,c}") and reads the procedure's answer
 * ("{t,f}", "{9,0}").  libc only: the unit test and the fuzzer link it.
 */
#ifndef PGARRAY_H
#define PGARRAY_H

#include <stddef.h>

/* The longest element pgarray_number / pgarray_integer write. */
#define PGARRAY_NUMBER_MAX	32

/* An array being written into a caller's buffer. */
struct pgarray_out {
	char	*buf;
	size_t	 cap;
	size_t	 len;
	int	 n;		/* elements so far */
	int	 full;		/* something did not fit: the text is lost */
};

void		 pgarray_begin(struct pgarray_out *, char *, size_t);
void		 pgarray_text(struct pgarray_out *, const char *);
void		 pgarray_number(struct pgarray_out *, double, int);
void		 pgarray_integer(struct pgarray_out *, long long);
const char	*pgarray_end(struct pgarray_out *);
size_t		 pgarray_text_max(size_t);

int		 pgarray_bools(const char *, int *, int);
int		 pgarray_ints(const char *, int *, int);

#endif
