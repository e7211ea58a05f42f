/*
 * json_out.c: a JSON object written straight into a caller's buffer.
 *
 * For the answer of POST /predict, the one response sent thousands of
 * times a second: building it as jansson objects and dumping them cost a
 * worker more than the model (allocations, and printf for each real).
 * Here members are appended in order to a fixed buffer, numbers that
 * were rounded to a few decimals go through fixed.c, and strings are
 * escaped as JSON requires.  Every other answer still uses jansson.
 *
 *	json_out_init(&o, buf, sizeof(buf));
 *	json_out_open(&o, NULL);		{
 *	json_out_str(&o, "a", "x");		"a":"x"
 *	json_out_open(&o, "b");			,"b":{
 *	json_out_fixed(&o, "c", 0.5, 3);	"c":0.5
 *	json_out_close(&o);			}
 *	json_out_close(&o);			}
 *	text = json_out_done(&o, &len);		NULL if it did not fit
 */
#include <string.h>

#include "fixed.h"
#include "json_out.h"

static void	json_out_raw(struct json_out *, const char *, size_t);
static void	json_out_quoted(struct json_out *, const char *);
static void	json_out_member(struct json_out *, const char *);

void
json_out_init(struct json_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->len = 0;
	o->overflow = (cap == 0);
	o->first = 1;
}

/* Opens an object: the top one (key NULL) or a member named key. */
void
json_out_open(struct json_out *o, const char *key)
{
	if (key != NULL)
		json_out_member(o, key);
	json_out_raw(o, "{", 1);
	o->first = 1;
}

void
json_out_close(struct json_out *o)
{
	json_out_raw(o, "}", 1);
	o->first = 0;
}

void
json_out_str(struct json_out *o, const char *key, const char *value)
{
	json_out_member(o, key);
	json_out_quoted(o, value);
}

/* value, rounded to decimals places (see fixed.c). */
void
json_out_fixed(struct json_out *o, const char *key, double value,
    int decimals)
{
	char	num[FIXED_BUFLEN];
	size_t	n;

	json_out_member(o, key);
	if ((n = fixed_format(num, sizeof(num), value, decimals)) == 0 ||
	    strspn(num, "-0123456789.eE+") != n) {
		o->overflow = 1;	/* nan or inf: not a JSON number */
		return;
	}
	json_out_raw(o, num, n);
}

void
json_out_int(struct json_out *o, const char *key, long long value)
{
	char	num[FIXED_BUFLEN];

	json_out_member(o, key);
	json_out_raw(o, num, fixed_integer(num, sizeof(num), value));
}

/* The text (NUL-terminated) and its length, or NULL if it overflowed. */
const char *
json_out_done(struct json_out *o, size_t *len)
{
	if (o->overflow || o->len >= o->cap)
		return (NULL);
	o->buf[o->len] = '\0';
	if (len != NULL)
		*len = o->len;
	return (o->buf);
}

static void
json_out_member(struct json_out *o, const char *key)
{
	if (!o->first)
		json_out_raw(o, ",", 1);
	o->first = 0;
	json_out_quoted(o, key);
	json_out_raw(o, ":", 1);
}

/*
 * s as a JSON string: '"', '\' and control characters escaped; other
 * bytes as they are (the callers' strings are UTF-8).
 */
static void
json_out_quoted(struct json_out *o, const char *s)
{
	static const char	hex[] = "0123456789abcdef";
	char			esc[6];
	const char		*run;
	unsigned char		c;

	json_out_raw(o, "\"", 1);
	for (run = s; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		json_out_raw(o, run, (size_t)(s - run));
		run = s + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			json_out_raw(o, esc, 2);
			break;
		case '\n':
			json_out_raw(o, "\\n", 2);
			break;
		case '\r':
			json_out_raw(o, "\\r", 2);
			break;
		case '\t':
			json_out_raw(o, "\\t", 2);
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			json_out_raw(o, esc, 6);
			break;
		}
	}
	json_out_raw(o, run, (size_t)(s - run));
	json_out_raw(o, "\"", 1);
}

/* Appends n bytes, keeping one byte for the NUL. */
static void
json_out_raw(struct json_out *o, const char *p, size_t n)
{
	if (o->overflow)
		return;
	if (n >= o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}
