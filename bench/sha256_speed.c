/* sha256_speed.c - how fast one core computes SHA-256 with libcrypto's EVP interface, the
 * library and calls lab 09's programs use: the bound that hashing puts on an upload.
 *
 *   sha256-speed CHUNK TOTAL   hashes TOTAL bytes in updates of CHUNK bytes (one buffer,
 *                              hashed again and again, as a program hashes the chunk it has
 *                              just received) and prints "BYTES SECONDS"
 *
 * The bench (bench/framing.py) runs it with the lab's chunk size, in the same run as the
 * upload it compares. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sha256-speed CHUNK TOTAL\n");
        return 2;
    }
    size_t chunk = strtoull(argv[1], NULL, 10);
    unsigned long long total = strtoull(argv[2], NULL, 10);
    unsigned char *buf = malloc(chunk > 0 ? chunk : 1);
    EVP_MD_CTX *hash = EVP_MD_CTX_new();
    if (chunk == 0 || buf == NULL || hash == NULL) {
        fprintf(stderr, "sha256-speed: bad chunk size or out of memory\n");
        return 1;
    }
    unsigned state = 12345; /* bytes that are not all alike, the same every run */
    for (size_t i = 0; i < chunk; i++) {
        state = state * 1103515245u + 12345u;
        buf[i] = (unsigned char)(state >> 16);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    double start = now();
    if (EVP_DigestInit_ex(hash, EVP_sha256(), NULL) != 1)
        return 1;
    unsigned long long done = 0;
    while (done < total) {
        size_t n = total - done < chunk ? (size_t)(total - done) : chunk;
        if (EVP_DigestUpdate(hash, buf, n) != 1)
            return 1;
        done += n;
    }
    if (EVP_DigestFinal_ex(hash, digest, NULL) != 1)
        return 1;
    double seconds = now() - start;
    printf("%llu %.6f\n", done, seconds);
    EVP_MD_CTX_free(hash);
    free(buf);
    return 0;
}
