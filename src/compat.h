/*
 * compat.h: the original FastAPI server's names and error detail.
 */
#ifndef COMPAT_H
#define COMPAT_H

#include <jansson.h>

json_t	*compat_detail(int, const char *, const json_t *, int);
void	 compat_metrics(const char *, json_t *);

#endif
