/*
 * LD_PRELOAD shim that makes wrk present a client certificate (wrk has no option for one, and
 * OpenSSL's system config cannot load certificates), and that, when asked, makes every reconnect a
 * full handshake (SSL_clear, below). Every SSL_CTX that wrk creates loads the PEM chain in
 * BENCH_CLIENT_CERT and the key in BENCH_CLIENT_KEY; a file that does not load stops wrk,
 * so a run never silently measures "no client certificate". Built by bench/wrk.ts with `cc -shared`.
 * No OpenSSL headers needed: the few prototypes are declared here, the symbols come from wrk's libssl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
#define PEM_FILETYPE 1 /* SSL_FILETYPE_PEM */

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
    static SSL_CTX *(*real_new)(const SSL_METHOD *);
    static int (*use_chain)(SSL_CTX *, const char *);
    static int (*use_key)(SSL_CTX *, const char *, int);
    static int (*check_key)(const SSL_CTX *);
    if (!real_new) {
        real_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
        use_chain = (int (*)(SSL_CTX *, const char *))dlsym(RTLD_NEXT, "SSL_CTX_use_certificate_chain_file");
        use_key = (int (*)(SSL_CTX *, const char *, int))dlsym(RTLD_NEXT, "SSL_CTX_use_PrivateKey_file");
        check_key = (int (*)(const SSL_CTX *))dlsym(RTLD_NEXT, "SSL_CTX_check_private_key");
        if (!real_new || !use_chain || !use_key || !check_key) {
            fprintf(stderr, "wrk-client-cert: libssl symbols not found\n");
            exit(2);
        }
    }
    SSL_CTX *ctx = real_new(method);
    const char *cert = getenv("BENCH_CLIENT_CERT");
    const char *key = getenv("BENCH_CLIENT_KEY");
    if (ctx && cert && key) {
        if (use_chain(ctx, cert) != 1 || use_key(ctx, key, PEM_FILETYPE) != 1 || check_key(ctx) != 1) {
            fprintf(stderr, "wrk-client-cert: cannot load %s / %s\n", cert, key);
            exit(2);
        }
    }
    return ctx;
}

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

/*
 * With BENCH_FULL_HANDSHAKES set, every reconnect is a full handshake (scenario c). wrk keeps one SSL
 * per connection slot and calls SSL_clear() between connections, which keeps the session, so every
 * other reconnect would resume it; the session is dropped instead.
 */
int SSL_clear(SSL *ssl) {
    static int (*real_clear)(SSL *);
    static int (*set_session)(SSL *, SSL_SESSION *);
    if (!real_clear) {
        real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
        set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
        if (!real_clear || !set_session) {
            fprintf(stderr, "wrk-client-cert: libssl symbols not found\n");
            exit(2);
        }
    }
    int ok = real_clear(ssl);
    if (getenv("BENCH_FULL_HANDSHAKES")) set_session(ssl, NULL);
    return ok;
}
