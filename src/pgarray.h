/*
 * pgarray.h: PostgreSQL's text form of one-dimensional arrays, as the
 * recorder sends its batch ("{a,b,c}") and reads the procedure's answer
 * ("{t,f}", "{9,0}").  libc only: the unit test and the fuzzer link it.
 */
#ifndef PGARRAY_H
#define PGARRAY_H

#include <stddef.h>

/* Room for any element pgarray_number / pgarray_integer write, NUL in. */
#define PGARRAY_NUMBER_MAX	32

size_t	pgarray_text(char *, size_t, const char *);
size_t	pgarray_text_max(size_t);
size_t	pgarray_number(char *, size_t, double, int);
size_t	pgarray_integer(char *, size_t, long long);

int	pgarray_bools(const char *, int *, int);
int	pgarray_ints(const char *, int *, int);

#endif
