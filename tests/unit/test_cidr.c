/*
 * test_cidr.c: TRUSTED_PROXIES parsing and the X-Forwarded-For rule.
 */
#include <string.h>

#include "cidr.h"
#include "tap.h"

static struct cidr_addr
addr(const char *s)
{
	struct cidr_addr	a;

	if (!cidr_addr_parse(&a, s, strlen(s)))
		memset(&a, 0xee, sizeof(a));
	return (a);
}

static const char *
client(const struct cidr_list *trusted, const char *peer, const char *xff)
{
	static char		buf[CIDR_STRLEN];
	struct cidr_addr	p, out;

	p = addr(peer);
	cidr_client(trusted, &p, xff, &out);
	cidr_addr_format(&out, buf, sizeof(buf));
	return (buf);
}

int
main(void)
{
	struct cidr_list	l;
	struct cidr_addr	a;
	char			err[128], buf[CIDR_STRLEN];

	/* Parsing. */
	tap_ok(cidr_list_parse(&l, "", err, sizeof(err)) && l.n == 0,
	    "empty list");
	tap_ok(cidr_list_parse(&l, "10.0.0.0/8, 192.168.1.7  ::1,fd00::/8",
	    err, sizeof(err)) && l.n == 4, "commas and blanks separate");
	tap_ok(!cidr_list_parse(&l, "10.0.0.0/33", err, sizeof(err)) &&
	    strstr(err, "10.0.0.0/33") != NULL, "IPv4 prefix > 32 refused");
	tap_ok(!cidr_list_parse(&l, "::/129", err, sizeof(err)),
	    "IPv6 prefix > 128 refused");
	tap_ok(!cidr_list_parse(&l, "10.0.0.0/", err, sizeof(err)),
	    "empty prefix refused");
	tap_ok(!cidr_list_parse(&l, "10.0.0.0/8x", err, sizeof(err)),
	    "junk after the prefix refused");
	tap_ok(!cidr_list_parse(&l, "not-an-ip", err, sizeof(err)) &&
	    strstr(err, "not-an-ip") != NULL, "a name is refused, quoted");

	/* Matching, IPv4, IPv6 and IPv4-mapped IPv6. */
	cidr_list_parse(&l, "10.0.0.0/8 192.168.1.7 2001:db8::/32", err,
	    sizeof(err));
	a = addr("10.200.3.4");
	tap_ok(cidr_list_match(&l, &a), "10.200.3.4 in 10.0.0.0/8");
	a = addr("11.0.0.1");
	tap_ok(!cidr_list_match(&l, &a), "11.0.0.1 not in the list");
	a = addr("192.168.1.7");
	tap_ok(cidr_list_match(&l, &a), "a bare address matches itself");
	a = addr("192.168.1.8");
	tap_ok(!cidr_list_match(&l, &a), "... and nothing else");
	a = addr("::ffff:10.1.2.3");
	tap_ok(cidr_list_match(&l, &a), "IPv4-mapped IPv6 matches the v4 rule");
	a = addr("2001:db8:1::5");
	tap_ok(cidr_list_match(&l, &a), "IPv6 in 2001:db8::/32");
	a = addr("2001:db9::1");
	tap_ok(!cidr_list_match(&l, &a), "IPv6 outside 2001:db8::/32");
	cidr_list_parse(&l, "0.0.0.0/0", err, sizeof(err));
	a = addr("2001:db8::1");
	tap_ok(!cidr_list_match(&l, &a), "0.0.0.0/0 is IPv4 only");
	a = addr("8.8.8.8");
	tap_ok(cidr_list_match(&l, &a), "0.0.0.0/0 matches any IPv4");

	/* Formatting. */
	a = addr("::ffff:1.2.3.4");
	cidr_addr_format(&a, buf, sizeof(buf));
	tap_is_str(buf, "1.2.3.4", "mapped addresses print as IPv4");
	a = addr("2001:DB8::1");
	cidr_addr_format(&a, buf, sizeof(buf));
	tap_is_str(buf, "2001:db8::1", "IPv6 prints canonically");

	/* Identity. */
	cidr_list_parse(&l, "", err, sizeof(err));
	tap_is_str(client(&l, "127.0.0.1", "1.2.3.4"), "127.0.0.1",
	    "no trusted proxies: X-Forwarded-For is ignored");
	cidr_list_parse(&l, "10.0.0.0/8", err, sizeof(err));
	tap_is_str(client(&l, "192.0.2.1", "1.2.3.4"), "192.0.2.1",
	    "untrusted peer: X-Forwarded-For is ignored");
	tap_is_str(client(&l, "10.0.0.1", NULL), "10.0.0.1",
	    "trusted peer without the header: the peer");
	tap_is_str(client(&l, "10.0.0.1", "203.0.113.9"), "203.0.113.9",
	    "trusted peer: the forwarded client");
	tap_is_str(client(&l, "10.0.0.1", "6.6.6.6, 203.0.113.9"),
	    "203.0.113.9", "a client-written entry on the left is skipped");
	tap_is_str(client(&l, "10.0.0.1", "203.0.113.9, 10.0.0.2"),
	    "203.0.113.9", "trusted hops on the right are skipped");
	tap_is_str(client(&l, "10.0.0.1", " 2001:db8::7 "), "2001:db8::7",
	    "IPv6 client, blanks trimmed");
	tap_is_str(client(&l, "10.0.0.1", "junk, 203.0.113.9"), "203.0.113.9",
	    "junk left of a good entry is never reached");
	tap_is_str(client(&l, "10.0.0.1", "203.0.113.9, junk"), "10.0.0.1",
	    "junk on the right stops the walk at the peer");
	tap_is_str(client(&l, "10.0.0.1", "10.0.0.3, 10.0.0.2"), "10.0.0.3",
	    "only trusted hops: the leftmost");

	return (tap_done());
}
