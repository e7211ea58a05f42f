/*
 * cidr.h: address ranges (TRUSTED_PROXIES) and client identity parsing.
 *
 * Pure C (libc only).  Addresses are kept as 16 bytes; IPv4 and
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) are the same address, so a dual-stack
 * listener and an IPv4 rule agree.
 */
#ifndef CIDR_H
#define CIDR_H

#include <stddef.h>

#define CIDR_MAX	64
#define CIDR_STRLEN	46	/* INET6_ADDRSTRLEN */

struct cidr_addr {
	int		v4;		/* 1: IPv4 (kept mapped in a) */
	unsigned char	a[16];
};

struct cidr {
	struct cidr_addr	addr;
	int			bits;	/* prefix length over all 128 bits */
};

struct cidr_list {
	struct cidr	v[CIDR_MAX];
	size_t		n;
};

int	cidr_list_parse(struct cidr_list *, const char *, char *, size_t);
int	cidr_list_match(const struct cidr_list *, const struct cidr_addr *);
int	cidr_addr_parse(struct cidr_addr *, const char *, size_t);
void	cidr_addr_format(const struct cidr_addr *, char *, size_t);
int	cidr_client(const struct cidr_list *, const struct cidr_addr *,
	    const char *, struct cidr_addr *);

#endif
