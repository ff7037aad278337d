/* SPDX-License-Identifier: MIT */
/*
 * test-uuid.c: src/uuid.c against libuuid (the reference): version 5 UUIDs
 * of names of every length across the SHA-1 block boundaries, parsing of
 * both cases, formatting, and the strings that are not UUIDs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "macro.h"
#include "tap.h"
#include "uuid.h"

/* a deterministic byte stream (xorshift), so that a failure repeats */
static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_sha1_vectors(void)
{
	/* FIPS 180-2 appendix A and the empty message */
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	};
	char got[41];
	unsigned char d[20];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		sha1(v[i].in, strlen(v[i].in), d);
		hex(d, 20, got);
		CHECK_STREQ(got, v[i].out);
	}
	/* a million 'a' (FIPS 180-2 A.3): many blocks */
	{
		char *m = malloc(1000000);

		CHECK(m != NULL);
		if (m) {
			memset(m, 'a', 1000000);
			sha1(m, 1000000, d);
			hex(d, 20, got);
			CHECK_STREQ(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
			free(m);
		}
	}
}

static void test_v5_matches_libuuid(void)
{
	static const char *const namespaces[] = {
		"19fe8257-6e13-5c48-b4dc-660a191abd94", /* APMATRIX_UUID_NAMESPACE */
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", /* NameSpace_DNS */
	};
	char name[300];
	unsigned bad = 0;

	for (size_t k = 0; k < ARRAY_SIZE(namespaces); k++) {
		uuid_t ns_ref, ref;
		unsigned char ns[16], u[16];
		char want[UUID_STR_LEN], got[UUID_STR_LEN];

		CHECK(uuid_parse(namespaces[k], ns_ref) == 0);
		CHECK(uuid_to_bytes(namespaces[k], ns));
		CHECK(memcmp(ns, ns_ref, 16) == 0);
		/* every length 0..299: 16 + len crosses 55/56 and 63/64 bytes (one, two, more blocks) */
		for (size_t len = 0; len < sizeof(name); len++) {
			for (int rep = 0; rep < 8; rep++) {
				for (size_t i = 0; i < len; i++)
					name[i] = (char)(rnd() % 255 + 1);
				uuid_generate_sha1(ref, ns_ref, name, len);
				uuid_v5(ns, name, len, u);
				uuid_unparse_lower(ref, want);
				uuid_format(u, got);
				if (strcmp(want, got) && bad++ < 5)
					printf("#   length %zu: %s, libuuid %s\n", len, got, want);
			}
		}
	}
	CHECK(bad == 0);
	/* what compile derives for "guest1" (README, tests/bats) */
	{
		unsigned char ns[16], u[16];
		char s[UUID_STR_LEN];

		CHECK(uuid_to_bytes("19fe8257-6e13-5c48-b4dc-660a191abd94", ns));
		uuid_v5(ns, "guest1", 6, u);
		uuid_format(u, s);
		CHECK_STREQ(s, "a4d8e314-29c2-57af-90ec-3bcb0bc33855");
	}
}

static void test_parse_and_format(void)
{
	unsigned bad = 0;

	for (int i = 0; i < 20000; i++) {
		uuid_t ref;
		unsigned char b[16], back[16];
		char s[UUID_STR_LEN], mixed[UUID_STR_LEN], canon[UUID_STR_LEN];

		for (int j = 0; j < 16; j++)
			b[j] = (unsigned char)rnd();
		uuid_format(b, s);
		uuid_unparse_lower(b, canon);
		bad += strcmp(s, canon) != 0;
		bad += !uuid_is_canonical(s);
		/* random case: both parsers read it, ours lower-cases it */
		for (int j = 0; j < 37; j++)
			mixed[j] = (rnd() & 1) && s[j] >= 'a' ? (char)(s[j] - 32) : s[j];
		bad += uuid_parse(mixed, ref) != 0;
		bad += !uuid_to_bytes(mixed, back) || memcmp(back, b, 16) != 0 || memcmp(back, ref, 16) != 0;
		bad += !uuid_canonicalize(mixed, mixed) || strcmp(mixed, s) != 0;
	}
	CHECK(bad == 0);
}

static void test_not_uuids(void)
{
	static const char *const no[] = {
		"",
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3",   /* 35 characters */
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c0", /* 37 */
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3g",
		"4b0f7c1e08d5e-4b1a-9d36-0c1f6a1e2b3c",
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b-c",
		"{4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3}",
		"4b0f7c1e8d5e4b1a9d360c1f6a1e2b3c",
		" 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3",
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3 ",
	};
	char out[UUID_STR_LEN] = "unchanged";
	unsigned char b[16];

	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		uuid_t ref;

		CHECK(!uuid_canonicalize(no[i], out));
		CHECK(!uuid_to_bytes(no[i], b));
		CHECK(!uuid_is_canonical(no[i]));
		/* libuuid agrees that none of them is a UUID */
		CHECK(uuid_parse(no[i], ref) != 0);
	}
	CHECK_STREQ(out, "unchanged");
	/* canonical means lower case */
	CHECK(!uuid_is_canonical("4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C"));
	CHECK(uuid_canonicalize("4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C", out));
	CHECK_STREQ(out, "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
}

/* mdevctl's file names: every form the Rust uuid crate's Uuid::parse_str() takes, and no other */
static void test_any_form(void)
{
	static const char *const yes[] = {
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C",
		"4b0f7c1e8d5e4b1a9d360c1f6a1e2b3c",
		"4B0F7C1E8D5E4B1A9D360C1F6A1E2B3C",
		"{4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c}",
		"{4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C}",
		"urn:uuid:4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"urn:uuid:4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C",
	};
	static const char *const no[] = {
		"",
		"{4b0f7c1e8d5e4b1a9d360c1f6a1e2b3c}",
		"urn:uuid:4b0f7c1e8d5e4b1a9d360c1f6a1e2b3c",
		"URN:UUID:4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"urn:UUID:4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"{4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c}",
		"(4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c)",
		"4b0f7c1e8d5e4b1a9d360c1f6a1e2b3",
		"4b0f7c1e8d5e4b1a9d360c1f6a1e2b3c0",
		"4b0f7c1e8d5e4b1a9d360c1f6a1e2b3g",
		"4b0f7c1-e8d5e-4b1a-9d36-0c1f6a1e2b3c",
		"{4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c}.bak",
		"4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c.bak",
	};
	char out[UUID_STR_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		memcpy(out, "unchanged", 10);
		CHECK(uuid_canonicalize_any(yes[i], out));
		CHECK_STREQ(out, "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		memcpy(out, "unchanged", 10);
		CHECK(!uuid_canonicalize_any(no[i], out));
		CHECK_STREQ(out, "unchanged");
	}
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_sha1_vectors),
		TAP_TEST(test_v5_matches_libuuid),
		TAP_TEST(test_parse_and_format),
		TAP_TEST(test_not_uuids),
		TAP_TEST(test_any_form),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
