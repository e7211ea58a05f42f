/*
 * uuid.h: UUID version 7 (RFC 9562) strings for prediction ids.
 */
#ifndef UUID_H
#define UUID_H

#include <stdint.h>

#define UUID_STRLEN	37	/* 36 characters and the NUL */

void	uuid_v7(char *, uint64_t);
void	uuid_v7_now(char *);
int	uuid_valid(const char *);

#endif
