/*
 * sha256.h: a small SHA-256 (FIPS 180-4) used to check the model artifact.
 *
 * Streaming interface: sha256_init, any number of sha256_update calls,
 * then sha256_final.  sha256_hex formats a digest as 64 lower-case hex
 * digits.  No allocation, no global state.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN	32
#define SHA256_HEX_LEN		(SHA256_DIGEST_LEN * 2 + 1)

struct sha256_ctx {
	uint32_t	state[8];
	uint64_t	bytes;
	uint8_t		block[64];
	size_t		fill;
};

void	sha256_init(struct sha256_ctx *);
void	sha256_update(struct sha256_ctx *, const void *, size_t);
void	sha256_final(struct sha256_ctx *, uint8_t [SHA256_DIGEST_LEN]);
void	sha256_hex(const uint8_t [SHA256_DIGEST_LEN], char [SHA256_HEX_LEN]);

#endif
