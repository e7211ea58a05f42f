/*
 * cidr.c: CIDR lists and the client-identity rule for X-Forwarded-For.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const unsigned char cidr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int	cidr_match(const struct cidr *, const struct cidr_addr *);

/*
 * Parses a list such as "10.0.0.0/8, 192.168.1.7 ::1 fd00::/8" (commas
 * and/or blanks).  A bare address is a /32 or /128.  Returns 1, or 0
 * with err naming the bad entry.
 */
int
cidr_list_parse(struct cidr_list *list, const char *spec, char *err,
    size_t errlen)
{
	const char	*p, *start, *slash;
	char		*end;
	size_t		 len;
	long		 bits;
	struct cidr	*c;

	memset(list, 0, sizeof(*list));
	p = spec;

	for (;;) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		len = (size_t)(p - start);

		if (list->n == CIDR_MAX) {
			snprintf(err, errlen, "more than %d entries", CIDR_MAX);
			return (0);
		}
		c = &list->v[list->n];
		slash = memchr(start, '/', len);
		if (!cidr_addr_parse(&c->addr, start,
		    slash != NULL ? (size_t)(slash - start) : len)) {
			snprintf(err, errlen, "'%.*s' is not an address",
			    (int)len, start);
			return (0);
		}
		if (slash == NULL) {
			c->bits = 128;
		} else {
			bits = strtol(slash + 1, &end, 10);
			if (end != p || slash + 1 == p || bits < 0 ||
			    bits > (c->addr.v4 ? 32 : 128)) {
				snprintf(err, errlen, "'%.*s' has a bad prefix",
				    (int)len, start);
				return (0);
			}
			c->bits = (int)bits + (c->addr.v4 ? 96 : 0);
		}
		list->n++;
	}

	return (1);
}

/* 1 if addr falls in any range of list. */
int
cidr_list_match(const struct cidr_list *list, const struct cidr_addr *addr)
{
	size_t	i;

	for (i = 0; i < list->n; i++) {
		if (cidr_match(&list->v[i], addr))
			return (1);
	}
	return (0);
}

/* Parses s[0..len) as an IPv4 or IPv6 address.  Returns 1 or 0. */
int
cidr_addr_parse(struct cidr_addr *addr, const char *s, size_t len)
{
	char		buf[CIDR_STRLEN];
	unsigned char	v4[4];

	memset(addr, 0, sizeof(*addr));
	if (len == 0 || len >= sizeof(buf))
		return (0);
	memcpy(buf, s, len);
	buf[len] = '\0';

	if (inet_pton(AF_INET, buf, v4) == 1) {
		addr->v4 = 1;
		memcpy(addr->a, cidr_v4mapped, sizeof(cidr_v4mapped));
		memcpy(addr->a + 12, v4, 4);
		return (1);
	}
	if (inet_pton(AF_INET6, buf, addr->a) == 1) {
		addr->v4 = (memcmp(addr->a, cidr_v4mapped,
		    sizeof(cidr_v4mapped)) == 0);
		return (1);
	}
	return (0);
}

/* Formats addr; IPv4 (and IPv4-mapped) addresses as dotted quads. */
void
cidr_addr_format(const struct cidr_addr *addr, char *buf, size_t len)
{
	if (addr->v4) {
		if (inet_ntop(AF_INET, addr->a + 12, buf, len) == NULL)
			snprintf(buf, len, "0.0.0.0");
	} else {
		if (inet_ntop(AF_INET6, addr->a, buf, len) == NULL)
			snprintf(buf, len, "::");
	}
}

/*
 * The client a request is made for.  The TCP peer, unless the peer is a
 * trusted proxy and sent X-Forwarded-For (xff, may be NULL): then walk
 * the header from the right, skipping trusted proxies, and take the
 * first address that is not one.  Reading from the right means a client
 * cannot choose its identity by sending its own X-Forwarded-For: the
 * entries it wrote sit left of the ones our proxies appended.  An entry
 * that is not an address stops the walk at the last good one.
 */
int
cidr_client(const struct cidr_list *trusted, const struct cidr_addr *peer,
    const char *xff, struct cidr_addr *out)
{
	const char		*end, *p, *start;
	struct cidr_addr	 a;

	*out = *peer;
	if (xff == NULL || !cidr_list_match(trusted, peer))
		return (1);

	end = xff + strlen(xff);
	while (end > xff) {
		p = end;
		while (p > xff && p[-1] != ',')
			p--;
		start = p;
		while (start < end && isspace((unsigned char)*start))
			start++;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (!cidr_addr_parse(&a, start, (size_t)(end - start)))
			break;
		*out = a;
		if (!cidr_list_match(trusted, &a))
			break;
		end = p > xff ? p - 1 : p;
	}

	return (1);
}

static int
cidr_match(const struct cidr *c, const struct cidr_addr *addr)
{
	int		full, rest;
	unsigned char	mask;

	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(c->addr.a, addr->a, (size_t)full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (unsigned char)(0xff << (8 - rest));
	return ((c->addr.a[full] & mask) == (addr->a[full] & mask));
}
