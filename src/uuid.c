/* SPDX-License-Identifier: MIT */
/*
 * uuid.c: the UUID forms apmatrix reads and writes, and the name-based
 * (version 5) UUIDs it derives from guest names (DESIGN §2).  A few lines
 * instead of libuuid: its parser calls strtoul for every field and its
 * SHA-1 feeds the padding one byte at a time, about 4,000 instructions per
 * derived UUID; bench/RESULTS.md compiles 10,000 guests.  The unit test
 * checks every function here against libuuid.
 */
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "uuid.h"

static bool dash_at(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

bool uuid_canonicalize(const char *s, char out[UUID_STR_LEN])
{
	char buf[UUID_STR_LEN];

	for (size_t i = 0; i < UUID_STR_LEN - 1; i++) {
		char c = s[i];

		if (dash_at(i) ? c != '-' : hex_value(c) < 0)
			return false;
		buf[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
	}
	if (s[UUID_STR_LEN - 1] != '\0')
		return false;
	buf[UUID_STR_LEN - 1] = '\0';
	memcpy(out, buf, UUID_STR_LEN);
	return true;
}

bool uuid_canonicalize_any(const char *s, char out[UUID_STR_LEN])
{
	size_t len = strlen(s);
	char buf[UUID_STR_LEN];

	if (len == 32) {
		size_t k = 0;

		for (size_t i = 0; i < 32; i++) {
			if (hex_value(s[i]) < 0)
				return false;
			if (dash_at(k))
				buf[k++] = '-';
			buf[k++] = s[i];
		}
		buf[k] = '\0';
		return uuid_canonicalize(buf, out);
	}
	if (len == 38 && s[0] == '{' && s[37] == '}') {
		memcpy(buf, s + 1, UUID_STR_LEN - 1);
		buf[UUID_STR_LEN - 1] = '\0';
		return uuid_canonicalize(buf, out);
	}
	if (len == 45 && strncmp(s, "urn:uuid:", 9) == 0)
		return uuid_canonicalize(s + 9, out);
	return uuid_canonicalize(s, out);
}

bool uuid_is_canonical(const char *s)
{
	for (size_t i = 0; i < UUID_STR_LEN - 1; i++) {
		char c = s[i];

		if (dash_at(i) ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[UUID_STR_LEN - 1] == '\0';
}

bool uuid_to_bytes(const char *s, unsigned char out[16])
{
	char c[UUID_STR_LEN];
	size_t k = 0;

	if (!uuid_canonicalize(s, c))
		return false;
	for (size_t i = 0; i < UUID_STR_LEN - 1; i += 2) {
		if (dash_at(i))
			i++;
		out[k++] = (unsigned char)(hex_value(c[i]) << 4 | hex_value(c[i + 1]));
	}
	return true;
}

void uuid_format(const unsigned char u[16], char out[UUID_STR_LEN])
{
	static const char digits[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = digits[u[i] >> 4];
		out[k++] = digits[u[i] & 15];
	}
	out[k] = '\0';
}

/* ---- SHA-1 ---- */

static uint32_t rol(uint32_t x, unsigned n)
{
	return x << n | x >> (32 - n);
}

/*
 * The 80 rounds written out (five at a time, the variables renamed instead of
 * shifted) over a 16-word window of the message schedule: the compiler keeps
 * everything in registers.  About twice the speed of the plain loops
 * (uuid_v5: 360 -> 170 ns per call).
 */
#define SHA1_W(i) (w[(i) & 15] = rol(w[((i) + 13) & 15] ^ w[((i) + 8) & 15] ^ w[((i) + 2) & 15] ^ w[(i) & 15], 1))
#define SHA1_F0(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define SHA1_F1(b, c, d) ((b) ^ (c) ^ (d))
#define SHA1_F2(b, c, d) (((b) & (c)) | ((d) & ((b) | (c))))
#define SHA1_R(a, b, c, d, e, f, k, wi)                    \
	do {                                               \
		e += rol(a, 5) + f(b, c, d) + (k) + (wi); \
		b = rol(b, 30);                            \
	} while (0)
#define SHA1_5(i, f, k, wi)                                   \
	do {                                                  \
		SHA1_R(a, b, c, d, e, f, k, wi((i) + 0)); \
		SHA1_R(e, a, b, c, d, f, k, wi((i) + 1)); \
		SHA1_R(d, e, a, b, c, f, k, wi((i) + 2)); \
		SHA1_R(c, d, e, a, b, f, k, wi((i) + 3)); \
		SHA1_R(b, c, d, e, a, f, k, wi((i) + 4)); \
	} while (0)
/* rounds 0-19: the message words, then the schedule (i is a constant here) */
#define SHA1_WX(i) ((i) < 16 ? w[(i) & 15] : SHA1_W(i))

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	SHA1_5(0, SHA1_F0, 0x5a827999, SHA1_WX);
	SHA1_5(5, SHA1_F0, 0x5a827999, SHA1_WX);
	SHA1_5(10, SHA1_F0, 0x5a827999, SHA1_WX);
	SHA1_5(15, SHA1_F0, 0x5a827999, SHA1_WX);
	for (int i = 20; i < 40; i += 5)
		SHA1_5(i, SHA1_F1, 0x6ed9eba1, SHA1_W);
	for (int i = 40; i < 60; i += 5)
		SHA1_5(i, SHA1_F2, 0x8f1bbcdc, SHA1_W);
	for (int i = 60; i < 80; i += 5)
		SHA1_5(i, SHA1_F1, 0xca62c1d6, SHA1_W);
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	const unsigned char *p = data;
	unsigned char last[128] = { 0 };
	size_t rest = len % 64, n_last = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t i = 0; i + 64 <= len; i += 64)
		sha1_block(h, p + i);
	/* the tail, a 1 bit, zeros, and the length in bits: one or two blocks */
	if (rest)
		memcpy(last, p + len - rest, rest);
	last[rest] = 0x80;
	for (size_t i = 0; i < 8; i++)
		last[n_last - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, last);
	if (n_last == 128)
		sha1_block(h, last + 64);
	for (size_t i = 0; i < 20; i++)
		out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

void uuid_v5(const unsigned char ns[16], const char *name, size_t len, unsigned char out[16])
{
	unsigned char small[16 + 256], digest[20];
	unsigned char *buf = len <= sizeof(small) - 16 ? small : xmalloc(16 + len);

	memcpy(buf, ns, 16);
	memcpy(buf + 16, name, len);
	sha1(buf, 16 + len, digest);
	if (buf != small)
		free(buf);
	memcpy(out, digest, 16);
	out[6] = (unsigned char)((out[6] & 0x0f) | 0x50); /* version 5 */
	out[8] = (unsigned char)((out[8] & 0x3f) | 0x80); /* variant 10 */
}
