/*
 * api_docs.c: GET /openapi.json, the API described in OpenAPI 3.1, and
 * GET /docs, Swagger UI rendering it, with the page's files under /docs/.
 *
 * Every file is read once, in the parent before the workers fork
 * (api_docs_load() from kore_parent_configure): workers serve them from
 * memory shared copy-on-write, and never touch the disk (nor need the
 * system calls for it in their seccomp filter).
 * src/docs/ holds what is ours (openapi.json, index.html,
 * swagger-init.js); build/docs/ what `make docs` copies out of the npm
 * package swagger-ui-dist.  Paths are relative to the working directory,
 * the repository root, like the module's own path in kore.conf.
 *
 * Without build/docs (npm never ran) the server starts all the same:
 * /docs answers 503 saying how to build it, while /openapi.json, part of
 * the repository, is always served.
 *
 * Each file carries an ETag (a hash of its bytes) and "Cache-Control:
 * no-cache": browsers revalidate and get a 304 until the file changes,
 * which takes a restart.  The page may load nothing but this server's
 * own files (Content-Security-Policy): no CDN, no inline script.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

#define DOCS_FILE_MAX	(16 * 1024 * 1024)	/* the bundle is ~1.5 MB */
#define DOCS_ETAG_LEN	24

/*
 * Only this server's files, and data: URIs for the images swagger-ui.css
 * embeds; Swagger UI needs no inline script or style (it sets styles
 * through the DOM, which CSP allows), checked in headless Chromium
 * (tests/http/test_docs_browser.py fails on any CSP report).
 */
#define DOCS_CSP							\
	"default-src 'none'; script-src 'self'; style-src 'self'; "	\
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; "	\
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* What is served, and from where (the document first).  As kore.conf. */
static const struct {
	const char	*route;
	const char	*file;
	const char	*type;
	int		 page;		/* /docs: 503 without build/docs */
} docs_table[] = {
	{ "/openapi.json", "src/docs/openapi.json", "application/json", 0 },
	{ "/docs", "src/docs/index.html", "text/html; charset=utf-8", 1 },
	{ "/docs/swagger-init.js", "src/docs/swagger-init.js",
	    "text/javascript; charset=utf-8", 1 },
	{ "/docs/swagger-ui.css", "build/docs/swagger-ui.css",
	    "text/css; charset=utf-8", 1 },
	{ "/docs/swagger-ui-bundle.js", "build/docs/swagger-ui-bundle.js",
	    "text/javascript; charset=utf-8", 1 },
	{ "/docs/favicon-32x32.png", "build/docs/favicon-32x32.png",
	    "image/png", 1 },
};

#define DOCS_NFILES	(sizeof(docs_table) / sizeof(docs_table[0]))

/* The files' bytes, loaded in the parent; data NULL when unreadable. */
struct docs_blob {
	u_int8_t	*data;
	size_t		 len;
	char		 etag[DOCS_ETAG_LEN];
};

static int	docs_read(const char *, struct docs_blob *, char *, size_t);
static int	docs_etag_match(const char *, const char *);
static void	docs_headers(struct http_request *, const struct docs_blob *,
		    int);

static struct docs_blob	docs_blobs[DOCS_NFILES];
static int		docs_page_ready;	/* every file of /docs loaded */

/*
 * In the parent, before fork: reads every file.  A missing one is not
 * fatal (the docs are not the service), it is logged with what to do.
 */
void
api_docs_load(void)
{
	json_error_t	 jerr;
	json_t		*doc;
	char		 why[128];
	size_t		 i;
	int		 missing;

	missing = 0;
	for (i = 0; i < DOCS_NFILES; i++) {
		if (docs_read(docs_table[i].file, &docs_blobs[i], why,
		    sizeof(why)))
			continue;
		kore_log(LOG_ERR, "docs: cannot read %s: %s%s",
		    docs_table[i].file, why, docs_table[i].page ?
		    "; /docs answers 503 (run 'make docs', needs npm)" :
		    "; /openapi.json answers 503");
		if (docs_table[i].page)
			missing++;
	}
	docs_page_ready = (missing == 0);

	/* A hand-edited document that is not JSON shows at start. */
	if (docs_blobs[0].data != NULL) {
		doc = json_loadb((const char *)docs_blobs[0].data,
		    docs_blobs[0].len, JSON_REJECT_DUPLICATES, &jerr);
		if (doc == NULL) {
			kore_log(LOG_ERR, "docs: %s is not JSON (line %d: %s); "
			    "/openapi.json answers 503", docs_table[0].file,
			    jerr.line, jerr.text);
			kore_free(docs_blobs[0].data);
			docs_blobs[0].data = NULL;
		}
		json_decref(doc);
	}

	kore_log(LOG_NOTICE, "docs: openapi=%s page=%s",
	    docs_blobs[0].data != NULL ? "loaded" : "missing",
	    docs_page_ready ? "loaded" : "missing");
}

/* GET|HEAD of any route in docs_table (kore.conf sends them all here). */
int
api_docs_get(struct http_request *req)
{
	const struct docs_blob	*b;
	const char		*inm;
	size_t			 i;

	if (!gate_method(req, HTTP_METHOD_GET))
		goto done;

	for (i = 0; i < DOCS_NFILES; i++) {
		if (!strcmp(docs_table[i].route, req->path))
			break;
	}
	if (i == DOCS_NFILES) {
		/* kore.conf drifted: a route here that docs_table lacks. */
		http_json_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such document; GET / lists the endpoints", NULL);
		goto done;
	}
	b = &docs_blobs[i];

	if (b->data == NULL || (docs_table[i].page && !docs_page_ready)) {
		http_json_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "docs_unavailable", docs_table[i].page ?
		    "the API docs page is not built: run 'make docs' (needs "
		    "npm) and restart the server; /openapi.json describes "
		    "the API meanwhile" : "the OpenAPI document could not be "
		    "loaded at start; see the server's log", NULL);
		goto done;
	}

	docs_headers(req, b, docs_table[i].page);
	if (http_request_header(req, "if-none-match", &inm) &&
	    docs_etag_match(inm, b->etag)) {
		/* RFC 9110: a 304's Content-Length would be the 200's. */
		req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
		http_response(req, HTTP_STATUS_NOT_MODIFIED, NULL, 0);
		http_json_count(req, HTTP_STATUS_NOT_MODIFIED);
		goto done;
	}

	http_response_header(req, "content-type", docs_table[i].type);
	/* Sent from the blob itself, which lives as long as the worker. */
	http_response_stream(req, HTTP_STATUS_OK, b->data, b->len, NULL,
	    NULL);
	http_json_count(req, HTTP_STATUS_OK);

done:
	return (KORE_RESULT_OK);
}

/* Reads path into b.  Returns 1, or 0 with the reason in why. */
static int
docs_read(const char *path, struct docs_blob *b, char *why, size_t len)
{
	struct stat	st;
	u_int64_t	h;
	size_t		off, i;
	ssize_t		r;
	int		fd, ret;

	ret = 0;
	memset(b, 0, sizeof(*b));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, len, "%s", strerror(errno));
		goto cleanup;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, len, "%s", strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > DOCS_FILE_MAX) {
		snprintf(why, len, "not a regular file of at most %d bytes",
		    DOCS_FILE_MAX);
		goto cleanup;
	}

	b->len = (size_t)st.st_size;
	b->data = kore_malloc(b->len + 1);
	for (off = 0; off < b->len; off += (size_t)r) {
		r = read(fd, b->data + off, b->len - off);
		if (r == -1 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r <= 0) {
			snprintf(why, len, "%s", r == 0 ? "file shrank" :
			    strerror(errno));
			goto cleanup;
		}
	}
	b->data[b->len] = '\0';

	/* FNV-1a: the ETag only has to change when the bytes do. */
	h = 0xcbf29ce484222325ULL;
	for (i = 0; i < b->len; i++) {
		h ^= b->data[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(b->etag, sizeof(b->etag), "\"%016llx\"",
	    (unsigned long long)h);
	ret = 1;

cleanup:
	if (fd != -1)
		close(fd);
	if (!ret) {
		kore_free(b->data);
		memset(b, 0, sizeof(*b));
	}
	return (ret);
}

/*
 * 1 if an If-None-Match value (a list of entity tags, or "*") names etag.
 * The comparison is weak, as RFC 9110 wants for If-None-Match.
 */
static int
docs_etag_match(const char *header, const char *etag)
{
	const char	*p, *end;
	size_t		 n, elen;

	elen = strlen(etag);
	p = header;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return (1);
		if (!strncmp(p, "W/", 2))
			p += 2;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == elen && !strncmp(p, etag, n))
			return (1);
		p = end;
	}
	return (0);
}

/* Caching and, for the page and its files, the browser's fences. */
static void
docs_headers(struct http_request *req, const struct docs_blob *b, int page)
{
	http_response_header(req, "etag", b->etag);
	http_response_header(req, "cache-control", "no-cache");
	http_response_header(req, "x-content-type-options", "nosniff");
	if (!page)
		return;
	http_response_header(req, "content-security-policy", DOCS_CSP);
	http_response_header(req, "referrer-policy", "no-referrer");
	http_response_header(req, "x-frame-options", "DENY");
}
