#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "notify/sign.h"

Test(sign, standard_webhooks_v1_matches_the_published_test_vector)
{
    char sig[128];
    const char *body = "{\"test\": 2432232314}";
    cr_assert_eq(sign_standard_v1("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                  "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body),
                                  sig, sizeof(sig)),
                 0);
    cr_assert_str_eq(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

Test(sign, github_signature_matches_the_published_test_vector)
{
    char sig[128];
    cr_assert_eq(sign_github("It's a Secret to Everybody", "Hello, World!", 13, sig, sizeof(sig)),
                 0);
    cr_assert_str_eq(sig,
                     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

Test(sign, ed25519_signature_verifies_with_the_public_key)
{
    cr_assert_geq(sodium_init(), 0);
    unsigned char seed[32], pk[32], sk[64];
    for (int i = 0; i < 32; i++)
        seed[i] = (unsigned char)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    char key[64];
    sodium_bin2base64(key, sizeof(key), seed, sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
    char sig[256];
    const char *body = "{\"a\":1}";
    cr_assert_eq(sign_standard_v1a(key, "id1", "1700000000", body, strlen(body), sig, sizeof(sig)),
                 0);
    cr_assert(strncmp(sig, "v1a,", 4) == 0);
    unsigned char raw[64];
    size_t len;
    cr_assert_eq(sodium_base642bin(raw, sizeof(raw), sig + 4, strlen(sig + 4), NULL, &len, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(len, 64);
    const char *msg = "id1.1700000000.{\"a\":1}";
    cr_assert_eq(crypto_sign_verify_detached(raw, (const unsigned char *)msg, strlen(msg), pk), 0);
}

Test(sign, refuses_a_key_that_is_not_base64)
{
    char sig[128];
    cr_assert_lt(sign_standard_v1("whsec_***", "i", "1", "b", 1, sig, sizeof(sig)), 0);
    cr_assert_lt(sign_standard_v1a("short", "i", "1", "b", 1, sig, sizeof(sig)), 0);
}
